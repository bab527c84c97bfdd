"""iRoop (iRoopDeepFaceCam) through Deep-Live-Cam's CLI adapter with its own install check, against a
stand-in CLI with iRoop's name and version: found and reported like the others, swaps with the
Deep-Live-Cam arguments, and its refusals (exit 0 with a message) are read the same way."""

from __future__ import annotations

import json

import av
import pytest

from app.cli.main import main
from engines.external.base import SwapRequest
from engines.external.config import Mode
from engines.external.errors import SourceError
from engines.external.iroop import IRoopAdapter
from engines.metadata import AI_TAG, read_image_tags
from standins.helpers import builtin_entry, iroop_entry, write_integrations
from test_integrations_cli_adapters import adapter_for, request, standin  # noqa: F401 — the fixture


def test_iroop_is_found_and_swaps_a_video_with_the_deep_live_cam_arguments(kit_dir, tmp_path, standin) -> None:  # noqa: F811
    standin("success")
    adapter = adapter_for("iroop", iroop_entry(executionProviders=["cuda"]))
    assert isinstance(adapter, IRoopAdapter)
    availability = adapter.check()
    assert availability.available and availability.version == "1.3.0"
    out = tmp_path / "out.mp4"
    calls: list[tuple[int, int]] = []
    adapter.run(request(kit_dir, out, video=True, faces="all"), lambda d, t: calls.append((d, t)))
    [argv] = standin.argv
    assert argv[argv.index("-s") + 1].endswith("source_a.png") and argv[argv.index("-t") + 1].endswith("target.mp4")
    assert "--keep-fps" in argv and "--keep-audio" in argv and "--many-faces" in argv
    assert argv[argv.index("--execution-provider") + 1] == "cuda"
    assert calls == sorted(calls) and calls[-1] == (6, 6)
    with av.open(str(out)) as container:
        assert container.metadata.get("comment", "") == f"{AI_TAG}: iroop 1.3.0"


def test_iroop_refusing_the_source_with_exit_0_is_a_source_error(kit_dir, tmp_path, standin) -> None:  # noqa: F811
    standin("no_face")
    with pytest.raises(SourceError, match=r"no face found in .* \(iroop says: \[DLC.FACE-SWAPPER\] No face in source"):
        adapter_for("iroop", iroop_entry()).run(request(kit_dir, tmp_path / "o.png"), lambda d, t: None)
    assert not (tmp_path / "o.png").exists()


def test_iroop_names_itself_in_what_it_cannot_do(kit_dir, tmp_path) -> None:
    two = SwapRequest(sources=(kit_dir / "samples/source_a.png", kit_dir / "samples/source_b.png"),
                      target=kit_dir / "samples/target.png", output=tmp_path / "o.png", mode=Mode.IMAGE_TO_IMAGE)
    assert adapter_for("iroop", iroop_entry()).unsupported(two) == "iRoopDeepFaceCam takes one source photo"


def test_swapcast_engines_reports_iroop_and_a_job_runs_on_it(kit_dir, tmp_path, monkeypatch, standin, capsys) -> None:  # noqa: F811
    standin("success")
    settings = write_integrations(tmp_path, {"iroop": iroop_entry(priority=90), "builtin": builtin_entry(),
                                             "iroop-unset": iroop_entry(priority=80, path="")})
    monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(settings))
    capsys.readouterr()
    assert main(["engines", "--json"]) == 0
    engines = {e["name"]: e for e in json.loads(capsys.readouterr().out)["engines"]}
    assert engines["iroop"]["available"] and engines["iroop"]["version"] == "1.3.0" and engines["iroop"]["kind"] == "iroop"
    assert not engines["iroop-unset"]["available"]
    assert engines["iroop-unset"]["reason"].startswith("no install path set for iRoopDeepFaceCam")
    out = tmp_path / "out.png"
    assert main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples/target.png"), "-o", str(out)]) == 0
    assert read_image_tags(out)["comment"] == f"{AI_TAG}: iroop 1.3.0"  # the stand-in copied it; iroop did the job
