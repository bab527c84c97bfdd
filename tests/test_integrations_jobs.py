"""Jobs through the manager, end to end on the generated models: a failing external engine fails over
to the built-in one and the job completes; a user error still fails at once; `swapcast engines`."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from app.cli.main import main
from app.engine_host import cache as engine_cache
from engines.external.config import Mode
from engines.imaging import read_image
from engines.metadata import AI_TAG, read_image_tags
from engines.testing.synthetic_face import identity_by_name
from standins.helpers import builtin_entry, deep_live_cam_entry, facefusion_entry, free_port, http_entry, write_integrations


@pytest.fixture()
def integrations(tmp_path, monkeypatch):
    """Point SwapCast at an integrations.json made of the given entries."""

    def use(engines: dict, **top) -> Path:
        path = write_integrations(tmp_path, engines, **top)
        monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(path))
        return path

    return use


@pytest.fixture()
def standin(monkeypatch):
    return lambda behaviour: monkeypatch.setenv("SWAPCAST_STANDIN", behaviour)


@pytest.fixture(scope="module")
def truth(kit_dir: Path):
    from engines.testing.samples import load_truth

    return load_truth(kit_dir / "samples")


def swap(kit_dir: Path, target: str, out: Path) -> int:
    return main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples" / target), "-o", str(out)])


def jobs(capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["jobs", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def cheek(image: np.ndarray, box) -> np.ndarray:
    x1, y1, x2, y2 = box
    x, y = int(x1 + 0.25 * (x2 - x1)), int(y1 + 0.62 * (y2 - y1))
    return image[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).mean(axis=0)


def test_a_crashing_external_engine_fails_over_to_the_builtin_and_the_job_completes(
        kit_dir, tmp_path, integrations, standin, truth, capsys) -> None:
    integrations({"facefusion": facefusion_entry(priority=80), "builtin": builtin_entry(priority=50)})
    standin("crash")
    out = tmp_path / "out.png"
    assert swap(kit_dir, "target.png", out) == 0
    printed = capsys.readouterr().out
    assert "facefusion failed (facefusion crashed (SIGSEGV)" in printed and "done by builtin instead" in printed
    face = truth.images["target.png"].faces[0]
    coral = np.array(identity_by_name(truth.images["source_a.png"].faces[0].identity).skin_bgr, float)
    assert np.abs(cheek(read_image(out), face.box) - coral).max() < 25  # the built-in engine swapped it
    assert AI_TAG in read_image_tags(out)["comment"]
    [job] = jobs(capsys)
    assert job["state"] == "COMPLETED" and job["progress"] == 1.0
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_hanging_engine_is_killed_and_the_video_job_completes_on_the_builtin(
        kit_dir, tmp_path, integrations, standin, capsys) -> None:
    entry = facefusion_entry(priority=80, timeouts={"startS": 10, "idleS": 0.5, "totalS": 60, "healthS": 5})
    integrations({"facefusion": entry, "builtin": builtin_entry(priority=50)})
    standin("hang")
    out = tmp_path / "out.mp4"
    assert swap(kit_dir, "target.mp4", out) == 0
    assert "facefusion hung" in capsys.readouterr().out
    with av.open(str(out)) as container, av.open(str(kit_dir / "samples/target.mp4")) as original:
        assert container.streams.video[0].frames == original.streams.video[0].frames
        assert AI_TAG in container.metadata.get("comment", "")
    [job] = jobs(capsys)
    assert job["state"] == "COMPLETED" and job["frames_done"] == job["frames_total"] > 1


def test_the_preferred_external_engine_does_the_job_when_it_works(kit_dir, tmp_path, integrations, standin, capsys) -> None:
    integrations({"deep-live-cam": deep_live_cam_entry(priority=90), "builtin": builtin_entry(priority=50)})
    standin("success")
    out = tmp_path / "out.png"
    assert swap(kit_dir, "target.png", out) == 0
    assert np.array_equal(read_image(out), read_image(kit_dir / "samples/target.png"))  # the stand-in copies
    assert "deep-live-cam 1.6.0" in read_image_tags(out)["comment"]
    assert "instead" not in capsys.readouterr().out


def test_no_face_in_the_source_fails_the_job_at_once_without_failover(kit_dir, tmp_path, integrations, standin, capsys) -> None:
    integrations({"facefusion": facefusion_entry(priority=80), "builtin": builtin_entry(priority=50)})
    standin("no_face")
    out = tmp_path / "out.png"
    code = swap(kit_dir, "target.png", out)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("swapcast: error")]
    assert code != 0 and len(errors) == 1
    assert "no face found in" in errors[0] and "No source face detected" in errors[0]
    assert not out.exists()
    [job] = jobs(capsys)
    assert job["state"] == "FAILED" and job["attempts"] == 1


def test_a_corrupt_target_still_fails_with_its_own_line(kit_dir, tmp_path, integrations, standin, capsys) -> None:
    integrations({"facefusion": facefusion_entry(priority=80), "builtin": builtin_entry(priority=50)})
    standin("success")
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 20)
    code = main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"), "-t", str(bad),
                 "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code != 0 and "notes.mp4" in err and "not a video" in err and "Traceback" not in err


def test_engines_json_lists_each_engine_with_availability_reason_priority_modes_and_health(
        tmp_path, integrations, capsys) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    integrations({"builtin": builtin_entry(priority=50), "facefusion": facefusion_entry(priority=80),
                  "deep-live-cam": deep_live_cam_entry(priority=60, path=""),
                  "facefusion-http": http_entry(down, priority=70)})
    capsys.readouterr()
    assert main(["engines", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    engines = {e["name"]: e for e in data["engines"]}
    assert [e["name"] for e in data["engines"]] == ["facefusion", "facefusion-http", "deep-live-cam", "builtin"]
    assert engines["facefusion"]["available"] and engines["facefusion"]["version"] == "3.6.0"
    assert engines["facefusion"]["health"]["state"] == "ok" and engines["facefusion"]["priority"] == 80
    assert engines["facefusion"]["modes"] == ["image_to_image", "image_to_video"]
    assert not engines["deep-live-cam"]["available"]
    assert "no install path set for Deep-Live-Cam" in engines["deep-live-cam"]["reason"]
    assert engines["facefusion-http"]["health"] == {**engines["facefusion-http"]["health"], "state": "down"}
    assert "is down (connection refused)" in engines["facefusion-http"]["reason"]
    assert engines["builtin"]["in_process"] and "image_to_camera" in engines["builtin"]["modes"]
    assert data["memory_strategy"] == "keep_loaded"
    assert main(["engines"]) == 0
    table = capsys.readouterr().out
    assert "deep-live-cam: no install path set" in table and "facefusion [3.6.0]" not in table


def test_a_broken_settings_file_is_one_line_naming_the_entry(tmp_path, integrations, capsys) -> None:
    integrations({"facefusion": {**facefusion_entry(), "priority": "high"}})
    assert main(["engines"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "engine 'facefusion': priority must be an integer" in err[0]


def test_the_shipped_settings_route_jobs_to_the_builtin(kit_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SWAPCAST_INTEGRATIONS", raising=False)
    assert engine_cache.integrations_path().name == "integrations.json"
    manager = engine_cache.shared_manager()
    assert manager.choose(Mode.IMAGE_TO_VIDEO).name == "builtin" and manager.live_adapter().name == "builtin"
