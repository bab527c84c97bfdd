"""`swapcast lipsync` and the --lip-sync options: what is checked before anything is queued (one line
naming the problem and the fix, non-zero, the queue untouched), what a lip-sync job records, and
which engines take it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from app.cli.main import main
from app.jobs.model import JobSpec
from app.media.synth import make_clip
from engines.external.base import SwapRequest
from engines.external.config import Mode, parse_integrations
from engines.manager import create_adapter
from engines.testing.speech import speech_like, write_wav
from engines.testing.synthetic_face import plain_background
from engines.video_fit import VideoFit
from standins.helpers import deep_live_cam_entry, document, facefusion_entry, http_entry, iroop_entry


@pytest.fixture()
def speech(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "speech.wav", speech_like(1.0, [(0.2, 0.6)]))


def refused(capsys, kit_dir: Path, *args: str) -> str:
    """Run the command; it must fail with one error line and leave the queue empty. Returns the line."""
    capsys.readouterr()
    code = main([*args, "--models", str(kit_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("swapcast: error: "), err
    assert main(["jobs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing queued
    return err[0]


def test_audio_without_a_sound_track_is_refused_with_the_fix(kit_dir, tmp_path, capsys) -> None:
    silent = make_clip(tmp_path / "silent.mp4", frames=10).path  # a video with no audio stream
    line = refused(capsys, kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.mp4"), "-a", str(silent),
                   "-o", str(tmp_path / "out.mp4"))
    assert "silent.mp4 has no audio stream" in line and ".wav" in line
    assert not (tmp_path / "out.mp4").exists()


def test_swap_lip_sync_audio_is_checked_too(kit_dir, tmp_path, capsys) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    line = refused(capsys, kit_dir, "swap", "-s", str(kit_dir / "samples/source_a.png"), "-t",
                   str(kit_dir / "samples/target.mp4"), "--lip-sync", str(text), "-o", str(tmp_path / "out.mp4"))
    assert "notes.wav cannot be read" in line


def test_a_photo_with_no_face_is_refused_before_queueing(kit_dir, tmp_path, speech, capsys) -> None:
    photo = tmp_path / "wall.png"
    cv2.imwrite(str(photo), plain_background(640, 480))
    line = refused(capsys, kit_dir, "lipsync", "-t", str(photo), "-a", str(speech), "-o", str(tmp_path / "o.mp4"))
    assert "no face found in the photo wall.png" in line and "clearly visible face" in line


def test_an_unknown_fit_is_one_line_naming_the_valid_ones(kit_dir, tmp_path, speech, capsys) -> None:
    line = refused(capsys, kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.mp4"), "-a", str(speech),
                   "-o", str(tmp_path / "o.mp4"), "--fit", "bounce")
    assert "unknown --fit 'bounce'" in line and "loop, trim" in line


@pytest.mark.parametrize("args, words", [
    (("--lip-sync-weight", "1.5"), "--lip-sync-weight 1.5 is out of range"),
    (("--photo-fps", "0"), "frame rate of a photo's video"),
])
def test_out_of_range_tuning_is_refused(kit_dir, tmp_path, speech, capsys, args, words) -> None:
    line = refused(capsys, kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.png"), "-a", str(speech),
                   "-o", str(tmp_path / "o.mp4"), *args)
    assert words in line


def test_a_lip_synced_photo_must_be_written_as_a_video(kit_dir, tmp_path, speech, capsys) -> None:
    line = refused(capsys, kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.png"), "-a", str(speech),
                   "-o", str(tmp_path / "o.png"))
    assert "a lip-synced photo (a video) (target.png) cannot be written as '.png'" in line and "o.mp4" in line


def test_trim_does_not_go_with_lip_sync(kit_dir, tmp_path, speech, capsys) -> None:
    line = refused(capsys, kit_dir, "swap", "-s", str(kit_dir / "samples/source_a.png"), "-t",
                   str(kit_dir / "samples/target.mp4"), "--lip-sync", str(speech), "--trim", "0", "1",
                   "-o", str(tmp_path / "o.mp4"))
    assert "--trim does not go with lip sync" in line


def test_the_audio_is_never_the_output(kit_dir, tmp_path, speech, capsys) -> None:
    line = refused(capsys, kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.mp4"), "-a", str(speech),
                   "-o", str(speech), "--overwrite")
    assert "output is also a source" in line


def test_jobs_add_records_the_lip_sync_options(kit_dir, tmp_path, speech, capsys) -> None:
    out = tmp_path / "o.mp4"
    capsys.readouterr()
    assert main(["jobs", "add", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples/target.mp4"), "-o", str(out), "--lip-sync", str(speech),
                 "--lip-sync-weight", "0.5", "--fit", "trim", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    spec = job["spec"]
    assert spec["lip_sync"] == str(speech.resolve()) and spec["lip_sync_weight"] == 0.5 and spec["fit"] == "trim"
    assert JobSpec.from_dict(spec).fit is VideoFit.TRIM
    assert main(["jobs", "show", str(job["id"])]) == 0
    assert f"lip-sync={speech.resolve()} (weight 0.5, fit trim" in capsys.readouterr().out


def test_a_spec_from_before_lip_sync_reads_with_lip_sync_off() -> None:
    old = {"sources": ["/a.png"], "targets": ["/b.mp4"], "output": "/c.mp4", "faces": "largest"}
    spec = JobSpec.from_dict(old)
    assert spec.lip_sync is None and spec.fit is VideoFit.LOOP and spec.problems() == []
    assert JobSpec.from_json(spec.to_json()) == spec


def test_a_lip_sync_job_needs_no_source_but_others_still_do() -> None:
    assert JobSpec(sources=[], targets=["/b.mp4"], output="/c.mp4", lip_sync="/s.wav").problems() == []
    assert JobSpec(sources=[], targets=["/b.mp4"], output="/c.mp4").problems() == ["no source face given"]


def test_a_photo_lip_sync_output_without_extension_becomes_mp4() -> None:
    spec = JobSpec(sources=[], targets=["/in/face.png"], output="/out/", lip_sync="/s.wav")
    assert [p.name for p in spec.destinations()] == ["face.mp4"]


@pytest.mark.parametrize("name, entry", [
    ("facefusion", facefusion_entry()),
    ("deep_live_cam", deep_live_cam_entry()),
    ("facefusion_http", http_entry("http://127.0.0.1:9")),
    ("iroop", iroop_entry()),
])
def test_engines_without_a_lip_syncer_say_so(kit_dir, tmp_path, speech, name, entry) -> None:
    adapter = create_adapter(parse_integrations(document({name: entry}), Path("test.json")).engine(name))
    plain = SwapRequest(sources=(kit_dir / "samples/source_a.png",), target=kit_dir / "samples/target.mp4",
                        output=tmp_path / "o.mp4", mode=Mode.IMAGE_TO_VIDEO)
    assert adapter.unsupported(plain) is None
    synced = SwapRequest(**{**plain.__dict__, "lip_sync": speech})
    assert "no lip-sync stage" in adapter.unsupported(synced)


def test_a_missing_lip_syncer_is_refused_with_its_download_command(kit_dir, tmp_path, speech, capsys) -> None:
    from engines.models.catalog import REQUIRED_ROLES
    from engines.models.store import ModelStore

    from app.paths import user_paths

    store = ModelStore.resolve(user_paths().models, None)  # the catalog, in the user's (empty) models folder
    store.directory.mkdir(parents=True, exist_ok=True)
    for role in REQUIRED_ROLES:  # the swap's models are there (only their presence is checked here)
        (store.directory / store.default_for(role).file).write_bytes(b"")
    lip_syncer = store.default_for("lip_syncer")
    capsys.readouterr()
    assert main(["jobs", "add", "-t", str(kit_dir / "samples/target.mp4"), "--lip-sync", str(speech),
                 "-s", str(kit_dir / "samples/source_a.png"), "-o", str(tmp_path / "o.mp4")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and lip_syncer.file in err[0]
    assert f"swapcast models download {lip_syncer.id}" in err[0]
    assert main(["jobs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
