"""`swapcast live` and `swapcast cameras` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import av

from app.cli.main import main
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
    assert code == 0, printed
    assert "fps" in printed and "latency" in printed and "dropped" in printed  # the status line
    assert "virtual camera" in printed  # its state (unavailable here) and why
    assert f"saved {out}" in printed
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
