"""FaceFusion's headless CLI and Deep-Live-Cam's CLI, against stand-ins that honour their contracts:
success, a slow start, a crash mid-job, a hang past the timeout, garbage output, a refused source."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import av
import pytest

from engines.errors import InputError
from engines.external.base import SwapRequest
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure, EngineTimeout, SourceError
from engines.manager import create_adapter
from engines.metadata import AI_TAG, read_image_tags
from standins.helpers import FACEFUSION_DIR, deep_live_cam_entry, document, facefusion_entry


def adapter_for(name: str, entry: dict):
    config = parse_integrations(document({name: entry}), Path("test.json"))
    return create_adapter(config.engine(name))


@pytest.fixture()
def standin(monkeypatch, tmp_path):
    """Script the stand-in: standin("crash") and read back the arguments it got."""
    argv_file = tmp_path / "argv.jsonl"
    pid_file = tmp_path / "standin.pid"
    monkeypatch.setenv("SWAPCAST_STANDIN_ARGV", str(argv_file))
    monkeypatch.setenv("SWAPCAST_STANDIN_PID", str(pid_file))
    monkeypatch.setenv("SWAPCAST_STANDIN_FRAMES", "6")

    class Script:
        def __call__(self, behaviour: str, **env: str) -> None:
            monkeypatch.setenv("SWAPCAST_STANDIN", behaviour)
            for key, value in env.items():
                monkeypatch.setenv(key, value)

        @property
        def argv(self) -> list[list[str]]:
            return [json.loads(line) for line in argv_file.read_text().splitlines()] if argv_file.exists() else []

        @property
        def pid(self) -> int:
            return int(pid_file.read_text())

    return Script()


def request(kit_dir: Path, out: Path, video: bool = False, **options) -> SwapRequest:
    target = kit_dir / "samples" / ("target.mp4" if video else "target.png")
    return SwapRequest(sources=(kit_dir / "samples" / "source_a.png",), target=target, output=out,
                       mode=Mode.IMAGE_TO_VIDEO if video else Mode.IMAGE_TO_IMAGE,
                       frames_hint=6 if video else 1, **options)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".part" in p.name or p.name.endswith(".tag")]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ---- FaceFusion ------------------------------------------------------------------------------

def test_facefusion_swaps_an_image_with_its_documented_arguments_and_tags_it(kit_dir, tmp_path, standin) -> None:
    standin("success")
    adapter = adapter_for("facefusion", facefusion_entry())
    assert adapter.check().available and adapter.check().version == "3.6.0"
    out = tmp_path / "out.png"
    calls: list[tuple[int, int]] = []
    result = adapter.run(request(kit_dir, out), lambda d, t: calls.append((d, t)))
    assert result.output == out and result.engine == "facefusion"
    tags = read_image_tags(out)
    assert AI_TAG in tags["comment"] and "facefusion 3.6.0" in tags["comment"]
    [argv] = standin.argv
    assert argv[0] == "headless-run"
    for flag in ("--source-paths", "--target-path", "--output-path", "--processors", "--face-selector-mode"):
        assert flag in argv
    assert argv[argv.index("--processors") + 1] == "face_swapper"
    assert argv[argv.index("--face-selector-mode") + 1] == "one"
    assert calls[-1] == (1, 1)
    assert leftovers(tmp_path) == []


def test_facefusion_video_progress_lines_pass_through_and_the_video_is_tagged(kit_dir, tmp_path, standin) -> None:
    standin("success")
    out = tmp_path / "out.mp4"
    calls: list[tuple[int, int]] = []
    adapter = adapter_for("facefusion", facefusion_entry())
    adapter.run(request(kit_dir, out, video=True, faces="all", enhance=True), lambda d, t: calls.append((d, t)))
    # The adapter's heartbeat re-sends the last value while the engine is quiet (it is how a cancel is
    # noticed), so a value may repeat: what matters is that every tqdm redraw arrives, in order.
    done = [d for d, total in calls if total == 6 and d > 0]
    redraws = [d for i, d in enumerate(done) if i == 0 or d != done[i - 1]]
    assert redraws[:6] == [1, 2, 3, 4, 5, 6]
    with av.open(str(out)) as container, av.open(str(kit_dir / "samples" / "target.mp4")) as original:
        assert AI_TAG in container.metadata.get("comment", "")
        assert container.streams.video[0].frames == original.streams.video[0].frames
        assert len(container.streams.audio) == len(original.streams.audio)
    argv = standin.argv[0]
    assert argv[argv.index("--face-selector-mode") + 1] == "many"
    assert argv[argv.index("--processors") + 1:argv.index("--processors") + 3] == ["face_swapper", "face_enhancer"]


def test_a_slow_start_is_not_a_hang(kit_dir, tmp_path, standin) -> None:
    standin("slow_start", SWAPCAST_STANDIN_DELAY="1.5")  # silent for longer than idleS (1 s), less than startS (10 s)
    adapter = adapter_for("facefusion", facefusion_entry(timeouts={"startS": 10, "idleS": 1.0, "totalS": 60}))
    adapter.run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert (tmp_path / "out.png").exists()


def test_no_sign_of_life_within_the_start_timeout_stops_it(kit_dir, tmp_path, standin) -> None:
    standin("slow_start", SWAPCAST_STANDIN_DELAY="30")
    entry = facefusion_entry(timeouts={"startS": 0.5, "idleS": 1, "totalS": 30, "healthS": 2})
    started = time.monotonic()
    with pytest.raises(EngineTimeout, match="did not start: no output within 0.5 s"):
        adapter_for("facefusion", entry).run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert time.monotonic() - started < 6
    assert gone(standin.pid) and leftovers(tmp_path) == []


def test_a_crash_mid_job_is_an_engine_failure_naming_the_signal_and_the_frame(kit_dir, tmp_path, standin) -> None:
    standin("crash")
    out = tmp_path / "out.mp4"
    with pytest.raises(EngineFailure) as caught:
        adapter_for("facefusion", facefusion_entry()).run(request(kit_dir, out, video=True), lambda d, t: None)
    assert caught.value.crashed
    assert "facefusion crashed (SIGSEGV) after 3/6 frames" in caught.value.one_line()
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_hang_past_the_idle_timeout_is_killed(kit_dir, tmp_path, standin) -> None:
    standin("hang")
    entry = facefusion_entry(timeouts={"startS": 10, "idleS": 1.0, "totalS": 60, "healthS": 2})
    started = time.monotonic()
    with pytest.raises(EngineTimeout) as caught:
        adapter_for("facefusion", entry).run(request(kit_dir, tmp_path / "out.mp4", video=True), lambda d, t: None)
    assert time.monotonic() - started < 8
    assert "facefusion hung: no output for 1 s; it was stopped" in caught.value.one_line()
    assert "3/6" in caught.value.one_line()  # the last thing it printed
    assert gone(standin.pid) and leftovers(tmp_path) == []


def test_the_total_timeout_stops_a_run_that_keeps_talking(kit_dir, tmp_path, standin) -> None:
    standin("success", SWAPCAST_STANDIN_FRAMES="400")  # ~4 s of steady progress
    entry = facefusion_entry(timeouts={"startS": 5, "idleS": 1, "totalS": 0.8, "healthS": 2})
    with pytest.raises(EngineTimeout, match="took longer than 0.8 s"):
        adapter_for("facefusion", entry).run(request(kit_dir, tmp_path / "out.mp4", video=True), lambda d, t: None)


def test_garbage_output_is_a_clear_engine_failure(kit_dir, tmp_path, standin) -> None:
    standin("garbage")
    out = tmp_path / "out.png"
    with pytest.raises(EngineFailure) as caught:
        adapter_for("facefusion", facefusion_entry()).run(request(kit_dir, out), lambda d, t: None)
    message = caught.value.one_line()
    assert "facefusion wrote an output that is not a usable image" in message
    assert "unreadable line" in message and "\n" not in message
    assert not out.exists() and leftovers(tmp_path) == []


def test_no_source_face_is_a_source_error_not_an_engine_failure(kit_dir, tmp_path, standin) -> None:
    standin("no_face")
    with pytest.raises(SourceError) as caught:
        adapter_for("facefusion", facefusion_entry()).run(request(kit_dir, tmp_path / "o.png"), lambda d, t: None)
    assert "no face found in" in caught.value.one_line() and "No source face detected" in caught.value.one_line()


def test_a_fatal_exit_names_the_code_and_its_meaning(kit_dir, tmp_path, standin) -> None:
    standin("fail")
    with pytest.raises(EngineFailure, match=r"exit code 1, fatal exit.*last message: \[FACEFUSION.CORE\] Processing to video failed"):
        adapter_for("facefusion", facefusion_entry()).run(request(kit_dir, tmp_path / "o.png"), lambda d, t: None)


def test_a_cancel_from_the_progress_callback_kills_the_engine(kit_dir, tmp_path, standin) -> None:
    standin("hang")

    class Cancelled(BaseException):
        pass

    def progress(done: int, total: int) -> None:
        if done >= 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        adapter_for("facefusion", facefusion_entry()).run(request(kit_dir, tmp_path / "o.mp4", video=True), progress)
    assert gone(standin.pid) and leftovers(tmp_path) == []


def test_options_facefusion_cannot_honour_are_said(kit_dir, tmp_path) -> None:
    adapter = adapter_for("facefusion", facefusion_entry())
    assert "reference" in adapter.unsupported(request(kit_dir, tmp_path / "o.png", faces="reference"))
    assert "trim" in adapter.unsupported(request(kit_dir, tmp_path / "o.mp4", video=True, trim=(0.0, 1.0)))
    assert adapter.unsupported(request(kit_dir, tmp_path / "o.png")) is None


@pytest.mark.parametrize("setup, words", [
    (lambda tmp: {"path": ""}, "no install path set for FaceFusion — set engines.facefusion.path"),
    (lambda tmp: {"path": str(tmp / "missing")}, "install folder"),
    (lambda tmp: {"path": str(tmp)}, "has no facefusion.py: not a FaceFusion install"),
    (lambda tmp: {"python": str(tmp / "nope" / "python")}, "its interpreter"),
])
def test_install_problems_give_the_precise_reason(tmp_path, setup, words) -> None:
    availability = adapter_for("facefusion", facefusion_entry(**setup(tmp_path))).check()
    assert not availability.available and words in availability.reason


def test_an_old_facefusion_is_refused_with_its_version(tmp_path) -> None:
    install = tmp_path / "ff2"
    shutil.copytree(FACEFUSION_DIR, install)
    metadata = install / "facefusion" / "metadata.py"
    metadata.write_text(metadata.read_text().replace("3.6.0", "2.6.1"))
    availability = adapter_for("facefusion", facefusion_entry(path=str(install))).check()
    assert not availability.available
    assert "FaceFusion 2.6.1" in availability.reason and "headless-run needs 3.0.0 or newer" in availability.reason


# ---- Deep-Live-Cam ---------------------------------------------------------------------------

def test_deep_live_cam_swaps_with_its_documented_arguments(kit_dir, tmp_path, standin) -> None:
    standin("success")
    adapter = adapter_for("deep-live-cam", deep_live_cam_entry(executionProviders=["cuda"]))
    assert adapter.check().version == "1.6.0"
    out = tmp_path / "out.mp4"
    calls: list[tuple[int, int]] = []
    adapter.run(request(kit_dir, out, video=True, faces="all"), lambda d, t: calls.append((d, t)))
    [argv] = standin.argv
    assert argv[argv.index("-s") + 1].endswith("source_a.png") and argv[argv.index("-t") + 1].endswith("target.mp4")
    assert "-o" in argv and "--keep-fps" in argv and "--keep-audio" in argv and "--many-faces" in argv
    assert argv[argv.index("--execution-provider") + 1] == "cuda"
    assert (6, 6) in calls
    with av.open(str(out)) as container:
        assert AI_TAG in container.metadata.get("comment", "")


def test_deep_live_cam_exits_0_without_a_face_and_that_is_still_a_source_error(kit_dir, tmp_path, standin) -> None:
    standin("no_face")
    with pytest.raises(SourceError, match="No face in source path detected"):
        adapter_for("deep-live-cam", deep_live_cam_entry()).run(request(kit_dir, tmp_path / "o.png"), lambda d, t: None)


def test_deep_live_cam_reporting_failure_with_exit_0_is_an_engine_failure(kit_dir, tmp_path, standin) -> None:
    standin("fail")
    with pytest.raises(EngineFailure, match="Processing to video failed!"):
        adapter_for("deep-live-cam", deep_live_cam_entry()).run(request(kit_dir, tmp_path / "o.png"), lambda d, t: None)


def test_deep_live_cam_takes_one_source(kit_dir, tmp_path) -> None:
    adapter = adapter_for("deep-live-cam", deep_live_cam_entry())
    two = SwapRequest(sources=(kit_dir / "samples/source_a.png", kit_dir / "samples/source_b.png"),
                      target=kit_dir / "samples/target.png", output=tmp_path / "o.png", mode=Mode.IMAGE_TO_IMAGE)
    assert adapter.unsupported(two) == "Deep-Live-Cam takes one source photo"


def test_a_target_the_engine_rejects_is_an_input_error(kit_dir, tmp_path, standin) -> None:
    standin("success")
    bad = SwapRequest(sources=(kit_dir / "samples/source_a.png",), target=tmp_path / "missing.png",
                      output=tmp_path / "o.png", mode=Mode.IMAGE_TO_IMAGE)
    with pytest.raises(InputError, match="cannot use this target") as caught:
        adapter_for("facefusion", facefusion_entry()).run(bad, lambda d, t: None)
    assert not isinstance(caught.value, SourceError)
