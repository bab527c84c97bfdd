"""One list of face modes (engines.base.FaceSelection) for jobs, live, the CLI and the studio; an
unknown mode is refused with the valid ones named, never read as "largest" (issue 11, section 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.main import main
from app.jobs.model import JobSpec
from app.pipeline.api import LiveConfig
from app.pipeline.session import LiveSession
from engines.base import LIVE_FACE_SELECTIONS, OFFLINE_FACE_SELECTIONS, FaceSelection
from engines.errors import InputError
from engines.external.base import SwapRequest
from engines.external.config import Mode

SPEC = {"sources": ["/photos/me.png"], "targets": ["/in/clip.mp4"], "output": "/out/clip.mp4"}


def test_a_job_spec_with_an_unknown_mode_is_refused_on_load_naming_the_valid_ones() -> None:
    with pytest.raises(InputError) as raised:
        JobSpec.from_json(json.dumps({**SPEC, "faces": "everyone"}))
    assert raised.value.one_line() == "unknown face mode 'everyone' — use one of largest, all, reference"


def test_a_job_spec_refuses_a_live_only_mode() -> None:
    with pytest.raises(InputError, match="use one of largest, all, reference"):
        JobSpec.from_dict({**SPEC, "faces": "position"})


def test_a_job_spec_keeps_a_valid_mode_through_json() -> None:
    spec = JobSpec.from_dict({**SPEC, "faces": "all"})
    assert spec.faces is FaceSelection.ALL
    assert json.loads(spec.to_json())["faces"] == "all"
    assert JobSpec.from_json(spec.to_json()) == spec


def test_an_engine_request_refuses_an_unknown_mode() -> None:
    with pytest.raises(InputError, match="unknown face mode 'mapping'"):
        SwapRequest(sources=(Path("/s.png"),), target=Path("/t.png"), output=Path("/o.png"),
                    mode=Mode.IMAGE_TO_IMAGE, faces="mapping")  # type: ignore[arg-type]


def test_a_live_config_with_an_unknown_mode_is_refused_before_anything_starts() -> None:
    with pytest.raises(InputError) as raised:
        LiveSession(LiveConfig(sources=(Path("/photos/me.png"),), face_mode="everyone"))
    assert raised.value.one_line() == "unknown face mode 'everyone' — use one of largest, all, position, reference"


def test_the_live_control_refuses_an_unknown_mode_and_keeps_the_current_one() -> None:
    session = LiveSession(LiveConfig(sources=(Path("/photos/me.png"),), face_mode="all"))
    with pytest.raises(InputError, match="use one of largest, all, position, reference"):
        session.set_face_mode("mapping")
    assert session.stats().face_mode == "all"


@pytest.mark.parametrize(("command", "mode", "valid"), [
    (["swap", "-s", "a.png", "-t", "b.png", "-o", "c.png"], "everyone", "'largest', 'all', 'reference'"),
    (["swap", "-s", "a.png", "-t", "b.png", "-o", "c.png"], "position", "'largest', 'all', 'reference'"),
    (["live", "-s", "a.png"], "everyone", "'largest', 'all', 'position', 'reference'"),
])
def test_the_cli_refuses_an_unknown_mode_listing_the_choices(capsys, command, mode, valid) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--faces", mode])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"invalid choice: '{mode}' (choose from {valid})" in err


def test_every_front_end_offers_the_modes_of_the_one_enum() -> None:
    from app.gui.live_panel import FACE_MODES

    assert [value for value, _label in FACE_MODES] == [mode.value for mode in LIVE_FACE_SELECTIONS]
    assert set(OFFLINE_FACE_SELECTIONS) <= set(LIVE_FACE_SELECTIONS) <= set(FaceSelection)
    assert f"{FaceSelection.REFERENCE}" == "reference"  # how tables and messages print it
