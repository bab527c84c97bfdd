"""`swapcast live` and `swapcast cameras` from the command line."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from app.cli.main import main
from app.devices.virtual_camera import detect_virtual_camera
from engines.metadata import AI_TAG


def test_live_without_an_output_is_a_one_line_error(kit_dir: Path, capsys) -> None:
    code = main(["live", "-s", str(kit_dir / "samples" / "source_a.png"), "--camera", str(kit_dir / "samples" / "target.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "no output" in err and "--virtual-cam" in err and "--record" in err


def test_live_with_a_missing_camera_file_or_source_is_a_one_line_error(kit_dir: Path, tmp_path: Path, capsys) -> None:
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", str(tmp_path / "missing.mp4"), "--record", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "missing.mp4" in err
    code = main(["live", "-s", str(tmp_path / "nobody.png"), "--preview"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nobody.png" in err


def test_live_records_and_writes_stats_json(kit_dir: Path, tmp_path: Path, capsys) -> None:
    out, stats_file = tmp_path / "rec.mp4", tmp_path / "stats.json"
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--record", str(out), "--duration", "2.5",
                 "--stats-json", str(stats_file), "--virtual-cam"])
    printed = capsys.readouterr().out
    vcam_here = detect_virtual_camera().available
    # The recording alone keeps the session running; a virtual camera asked for that never worked
    # still makes the run end non-zero, and the summary says which.
    assert code == (0 if vcam_here else 1), printed
    assert "fps" in printed and "latency" in printed and "dropped" in printed  # the status line
    assert "virtual camera" in printed  # its state (unavailable here) and why
    assert f"saved {out}" in printed
    if not vcam_here:
        assert any(line.startswith("  virtual camera: 0 frames sent") and line.endswith("never worked")
                   for line in printed.splitlines())
    stats = json.loads(stats_file.read_text())
    for key in ("fps_in", "fps_out", "latency_ms_p50", "latency_ms_p95", "dropped", "stages_ms"):
        assert key in stats
    assert stats["state"] == "stopped" and stats["frames"] > 0
    assert {"detect", "swap", "paste", "process"} <= set(stats["stages_ms"])
    assert {o["name"] for o in stats["outputs"]} >= {"recording", "virtual camera"}
    with av.open(str(out)) as container:
        assert AI_TAG in container.metadata.get("comment", "")
        assert container.streams.video[0].frames > 0 or container.duration


def test_cameras_json_parses(capsys) -> None:
    assert main(["cameras", "--json"]) == 0
    cameras = json.loads(capsys.readouterr().out)
    assert isinstance(cameras, list)
    for camera in cameras:
        assert {"index", "path", "name", "sizes"} <= set(camera)


def test_cameras_without_any_mentions_playing_a_file(capsys, monkeypatch) -> None:
    monkeypatch.setattr("app.devices.list_cameras", lambda *a, **k: [])
    assert main(["cameras"]) == 0
    out = capsys.readouterr().out
    assert "no cameras" in out and "--camera FILE" in out


def test_ctrl_c_stops_cleanly_and_finalises_the_recording(kit_dir: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out, stats_file = tmp_path / "rec.mp4", tmp_path / "stats.json"
    script = Path(sys.executable).with_name("swapcast")
    env = {**os.environ, "SWAPCAST_MODELS": str(kit_dir)}
    process = subprocess.Popen(
        [str(script), "live", "-s", str(kit_dir / "samples" / "source_a.png"), "--camera",
         str(kit_dir / "samples" / "target.mp4"), "--record", str(out), "--stats-json", str(stats_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if json.loads(stats_file.read_text()).get("frames", 0) >= 10:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopping" in stdout and f"saved {out}" in stdout
    with av.open(str(out)) as container:
        assert AI_TAG in container.metadata.get("comment", "")
        assert container.streams.video[0].frames >= 10


def test_benchmark_live_reports_latency_fps_and_stage_shares(kit_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("app.benchmark.live_bench.CLIP_FRAMES", 20)
    monkeypatch.setattr("app.benchmark.live_bench.WARMUP_S", 0.3)
    code = main(["benchmark", "--models", str(kit_dir), "--live", "--no-frame", "--sizes", "720p",
                 "--live-seconds", "1", "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    (result,) = document["results"]
    assert result["mode"] == "live" and result["size"] == "720p" and result["target_fps"] == 30
    for key in ("fps_in", "fps_out", "latency_ms_p50", "latency_ms_p95", "dropped", "stages_ms", "stage_share"):
        assert key in result
    assert result["frames"] > 0 and result["latency_ms_p95"] >= result["latency_ms_p50"] > 0
    assert {"capture", "detect", "swap", "paste"} <= set(result["stage_share"])
    assert abs(sum(result["stage_share"].values()) - 1) < 0.02


# ---------------------------------------------------------------- outputs that cannot work


@pytest.fixture()
def unwritable_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder that refuses new files to this process: read-only bits, or (root ignores those)
    sysfs, which refuses file creation to everyone."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        for candidate in (folder, Path("/sys/kernel")):
            try:
                with tempfile.TemporaryFile(dir=candidate):
                    pass
            except OSError:
                yield candidate
                return
        pytest.skip("no folder here refuses writes to this user")
    finally:
        folder.chmod(0o700)


def closed_tcp_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_recording_into_an_unwritable_folder_is_refused_before_the_camera_opens(
        kit_dir: Path, unwritable_folder: Path, capsys) -> None:
    # Camera 9 does not exist here: an error about the folder, not the camera, shows the check came first.
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", "9", "--record", str(unwritable_folder / "rec.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"cannot record into {unwritable_folder}" in err and "choose a folder you can write to" in err
    assert not list(unwritable_folder.glob("*rec*"))


def test_a_virtual_camera_that_does_not_exist_is_refused_at_start_with_the_fix(kit_dir: Path, capsys) -> None:
    status = detect_virtual_camera()
    if status.available:
        pytest.skip(f"a virtual camera exists here ({status.summary()})")
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--virtual-cam", "--duration", "5"])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert status.problem in err and status.fix and status.fix in err  # e.g. sudo …/setup_v4l2loopback.sh
    assert "fps" not in captured.out  # it never ran: no status line


@pytest.mark.parametrize("scheme", ["tcp", "rtmp"])
def test_a_stream_that_never_connects_ends_non_zero_and_says_so(kit_dir: Path, capsys, monkeypatch,
                                                                scheme: str) -> None:
    monkeypatch.setattr("app.pipeline.outputs.base.RETRY_BACKOFF_S", (0.1,))
    port = closed_tcp_port()
    url = f"tcp://127.0.0.1:{port}" if scheme == "tcp" else f"rtmp://127.0.0.1:{port}/live/key"
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--stream", url, "--duration", "1.5"])
    captured = capsys.readouterr()
    assert code == 1, captured
    summary = [line.strip() for line in captured.out.splitlines() if line.startswith("  stream: ")]  # the end summary
    assert len(summary) == 1 and summary[0].startswith("stream: 0 frames sent")
    assert "Connection refused" in summary[0] and summary[0].endswith("never worked")
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "stream never worked" in err and "Connection refused" in err
    assert "start the receiver first" in err  # and the fix


def test_recording_works_while_the_stream_fails_and_the_summary_names_the_stream(
        kit_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("app.pipeline.outputs.base.RETRY_BACKOFF_S", (0.1,))
    out = tmp_path / "kept.mp4"
    code = main(["--models", str(kit_dir), "live", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--record", str(out),
                 "--stream", f"tcp://127.0.0.1:{closed_tcp_port()}", "--duration", "2"])
    captured = capsys.readouterr()
    assert code == 1, captured  # asked for, never worked: the run is not a success
    lines = {line.strip().split(":")[0]: line.strip() for line in captured.out.splitlines() if line.startswith("  ")}
    assert lines["stream"].endswith("never worked") and "Connection refused" in lines["stream"]
    assert "0 failures" in lines["recording"] and f"saved {out}" in lines["recording"]
    assert "never worked" not in lines["recording"]
    assert "stream never worked" in captured.err and "recording" not in captured.err
    with av.open(str(out)) as container:  # the recording went on regardless
        assert container.streams.video[0].frames > 0
