"""The live pipeline's parts on their own, without models: newest-wins hand-over, stats, capture
reopening, the looped video file, processing controls, output retry and the virtual camera sender."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from app.devices.virtual_camera import VirtualCameraStatus
from app.pipeline.capture import Capture, VideoFileSource, open_source
from app.pipeline.controls import ControlBoard, ControlState
from app.pipeline.frame import LiveFrame, now
from app.pipeline.outputs import Listeners, OutputHub, PreviewOutput, VirtualCameraOutput
from app.pipeline.outputs.base import FrameClock, Output, fit_frame
from app.pipeline.processor import Processor
from app.pipeline.slot import LatestSlot
from app.pipeline.stats import PipelineStats, percentile
from app.pipeline.testing import PassEngine, SyntheticSource, wait_until
from engines.base import SwapContext
from engines.errors import InputError


# ---------------------------------------------------------------- hand-over and stats


def test_slot_keeps_only_the_newest_and_reports_what_it_dropped() -> None:
    slot: LatestSlot[int] = LatestSlot(1)
    assert slot.put(1) is None
    assert slot.put(2) == 1  # the stale one is dropped, never queued
    assert slot.put(3) == 2
    assert slot.get(timeout=0) == 3 and slot.get(timeout=0) is None
    two: LatestSlot[int] = LatestSlot(2)
    for i in range(5):
        two.put(i)
    assert len(two) == 2 and two.take_newest() == (4, 1)


def test_slot_get_wakes_on_close() -> None:
    slot: LatestSlot[int] = LatestSlot(1)
    woke = threading.Event()
    thread = threading.Thread(target=lambda: (slot.get(timeout=10), woke.set()))
    thread.start()
    slot.close()
    assert woke.wait(2)


def test_stats_percentiles_rates_and_window() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 0.5) == 3.0
    stats = PipelineStats(window_s=0.3)
    t = now()
    for i in range(10):
        stats.captured(t)
        stats.processed(t - 0.010 * (i + 1), t)
    snap = stats.snapshot()
    assert snap.frames == 10 and 50 <= snap.latency_ms_p50 <= 60 and snap.latency_ms_p95 >= 90
    time.sleep(0.35)
    assert stats.snapshot().latency_ms_p95 == 0.0  # old samples leave the window


def test_frame_clock_gives_a_constant_rate_grid_without_drift() -> None:
    clock = FrameClock(30)
    assert clock.time_base == pytest.approx(1 / 30)
    base = 100.0
    assert [clock.pts(base + i / 30 + 0.004) for i in range(3)] == [0, 1, 2]
    assert clock.pts(base + 2 / 30 + 0.010) is None  # same slot as the previous frame: skipped
    assert clock.pts(base + 10 / 30) == 10  # a gap stays a gap: the timeline follows capture time
    assert FrameClock(29.97).rate.denominator == 1001


def test_fit_frame_crops_odd_sizes_and_scales_others() -> None:
    odd = np.zeros((721, 1281, 3), np.uint8)
    assert fit_frame(odd, 1280, 720).shape == (720, 1280, 3)
    assert fit_frame(np.zeros((480, 640, 3), np.uint8), 1280, 720).shape == (720, 1280, 3)


# ---------------------------------------------------------------- capture


def test_the_source_photos_live_in_one_place_in_the_config() -> None:
    from dataclasses import replace

    from app.pipeline.api import LiveConfig

    one_each = LiveConfig(sources=(Path("a.png"), Path("b.png")))  # the shorthand: one photo per identity
    assert one_each.identities == ((Path("a.png"),), (Path("b.png"),))
    assert replace(one_each, camera="1").identities == one_each.identities
    assert LiveConfig(identities=(("a.png", "a2.png"),)).identities == ((Path("a.png"), Path("a2.png")),)
    with pytest.raises(ValueError, match="not both"):  # two answers to one question are refused
        LiveConfig(sources=(Path("a.png"),), identities=((Path("b.png"),),))


def test_open_source_picks_camera_index_device_or_file(tmp_path: Path) -> None:
    assert open_source("0", (1280, 720), 30).name == "camera 0"
    assert open_source("/dev/video7", None, 30).name == "/dev/video7"
    with pytest.raises(InputError, match="swapcast cameras"):
        open_source(str(tmp_path / "nope.mp4"), None, 30)
    still = tmp_path / "still.png"
    import cv2

    cv2.imwrite(str(still), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="still image"):
        open_source(str(still), None, 30)


def _tiny_clip(path: Path, frames: int = 6, fps: int = 30) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), 40 * i % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


class _FakeClock:
    """The capture module's clock and sleep, advanced only by sleeping: pacing is checked exactly,
    whatever else the machine is doing."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def test_video_file_plays_at_its_own_rate_in_a_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    clock = _FakeClock()
    monkeypatch.setattr("app.pipeline.capture.now", clock.now)
    monkeypatch.setattr("app.pipeline.capture.time", SimpleNamespace(sleep=clock.sleep, perf_counter=clock.now))
    source = VideoFileSource(_tiny_clip(tmp_path / "clip.mp4"))
    info = source.open()
    assert (info.width, info.height, info.fps, info.is_file) == (64, 48, 30.0, True)
    times = [source.read()[1] for _ in range(15)]
    source.close()
    assert source.loops >= 2  # 6-frame clip, 15 frames read
    # Paced like a camera, across the loop seams too: one frame interval each, no bursts, no stalls.
    assert np.diff(times) == pytest.approx(np.full(14, 1 / 30), abs=1e-6)


def test_a_failing_source_is_reopened_and_frames_flow_again() -> None:
    source = SyntheticSource(fail_after=5)
    stats = PipelineStats()
    slot: LatestSlot[LiveFrame] = LatestSlot(1)
    messages: list[str] = []
    capture = Capture(source, slot, stats, messages.append)
    capture.open()
    capture.start()
    try:
        assert wait_until(lambda: capture.reopens >= 1 and stats.snapshot().frames == 0 and source.reads > 12, 5)
    finally:
        capture.stop()
    assert any("reopening" in m and "unplugged" in m for m in messages)
    assert messages[-1] == ""  # cleared once it works again
    assert source.opens >= 2


# ---------------------------------------------------------------- processing


def _processor(engine, board: ControlBoard) -> tuple[Processor, Output, list[LiveFrame], PipelineStats]:
    hub = OutputHub()
    got: list[LiveFrame] = []

    class Sink(Output):
        name = "sink"

        def _open(self, frame): pass

        def _send(self, frame): got.append(frame)

        def _close(self, completed): pass

    sink = Sink()
    sink.start()
    hub.add(sink)
    stats = PipelineStats()
    slot: LatestSlot[LiveFrame] = LatestSlot(1)
    processor = Processor(engine, SwapContext(in_place=True), slot, hub, stats, board)
    return processor, sink, got, stats


def test_processor_applies_controls_between_frames_and_survives_engine_errors() -> None:
    engine = PassEngine(fail_on={2})
    board = ControlBoard(ControlState())
    processor, sink, got, stats = _processor(engine, board)
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, :4] = 255  # bright on the left
    processor.process(LiveFrame(image, now(), 0))
    board.update(mirror=True, bypass=True)
    version, state = board.read()
    processor._apply(state)
    out = processor.process(LiveFrame(image, now(), 1))
    assert out.image[:, -4:].min() == 255 and out.image[:, :4].max() == 0  # mirrored
    assert engine.contexts[-1].bypass is True
    assert image[:, :4].min() == 255  # the captured frame itself was not flipped in place
    board.update(face_mode="all", active_source=1)
    processor._apply(board.read()[1])
    assert processor.context.selection.value == "all" and processor.context.active == 1
    failed = processor.process(LiveFrame(image, now(), 2))  # the engine raises on its 3rd frame
    assert failed.image is not None and stats.snapshot().errors == 1
    assert stats.snapshot().frames == 3
    sink.stop()
    assert got and got[-1].index == 2  # the newest frame always goes out


class _Flaky(Output):
    name = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def _open(self, frame): pass

    def _send(self, frame):
        if self.failures:
            self.failures -= 1
            raise OSError("network is unreachable")

    def _close(self, completed): pass


def test_a_failing_output_retries_while_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.pipeline.outputs.base.RETRY_BACKOFF_S", (0.05, 0.1))
    hub = OutputHub()
    flaky = _Flaky(failures=2)
    got: list[np.ndarray] = []
    listeners = Listeners()
    listeners.add(lambda image, t: got.append(image))
    preview = PreviewOutput(listeners)
    for output in (flaky, preview):
        output.start()
        hub.add(output)
    seen_retrying = False
    try:
        for i in range(40):
            hub.publish(LiveFrame(np.zeros((4, 4, 3), np.uint8), now(), i))
            seen_retrying |= flaky.status().state == "retrying"
            time.sleep(0.01)
        assert wait_until(lambda: flaky.status().state == "ok" and flaky.frames_sent > 0, 3)
    finally:
        for output in (flaky, preview):
            output.stop()
    assert seen_retrying
    assert len(got) >= 20  # the preview never waited for the flaky output
    assert not got[0].flags.writeable  # listeners cannot draw on the shared frame
    # What the end-of-session summary reads: every failure counted, the last one kept, and a
    # recovered output is one that worked.
    status = flaky.status()
    assert status.failures == 2 and status.last_error == "failed: network is unreachable"
    assert status.worked and not status.never_worked


def test_an_output_that_always_fails_is_one_that_never_worked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.pipeline.outputs.base.RETRY_BACKOFF_S", (0.01,))
    broken = _Flaky(failures=10**9)
    broken.start()
    try:
        for i in range(30):
            broken.offer(LiveFrame(np.zeros((4, 4, 3), np.uint8), now(), i))
            if broken.status().failures >= 3:
                break
            time.sleep(0.02)
    finally:
        broken.stop()
    status = broken.status()
    assert status.failures >= 3 and status.frames_sent == 0
    assert status.never_worked and "network is unreachable" in status.last_error
    idle = _Flaky(failures=0)  # started and stopped without a frame: nothing failed, nothing to report
    idle.start()
    idle.stop()
    assert not idle.status().never_worked


def test_listeners_unsubscribe() -> None:
    listeners = Listeners()
    remove = listeners.add(lambda image, t: None)
    assert len(listeners) == 1
    remove()
    remove()  # twice is harmless
    assert len(listeners) == 0


# ---------------------------------------------------------------- virtual camera sender


class _FakeCamera:
    def __init__(self, width: int, height: int, fps: float, **kwargs) -> None:
        self.size, self.fps, self.kwargs = (width, height), fps, kwargs
        self.sent: list[np.ndarray] = []
        self.closed = False
        self._next = time.perf_counter()

    def send(self, frame: np.ndarray) -> None:
        assert frame.shape == (self.size[1], self.size[0], 3) and frame.dtype == np.uint8
        self.sent.append(frame)

    def sleep_until_next_frame(self) -> None:
        self._next += 1 / self.fps
        time.sleep(max(0.0, self._next - time.perf_counter()))

    def close(self) -> None:
        self.closed = True


def test_virtual_camera_sends_at_a_fixed_rate_repeating_the_last_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    cameras: list[_FakeCamera] = []

    def factory(**kwargs):
        cameras.append(_FakeCamera(**kwargs))
        return cameras[-1]

    available = VirtualCameraStatus(True, "v4l2loopback", "/dev/video10", "SwapCast")
    output = VirtualCameraOutput((641, 360), 50, camera_factory=factory, detect=lambda: available)
    output.start()
    try:
        assert wait_until(lambda: cameras and len(cameras[0].sent) >= 3, 3)
        frame = np.full((360, 640, 3), 200, np.uint8)
        output.offer(LiveFrame(frame, now(), 0))
        assert wait_until(lambda: output.repeats >= 5, 3)  # no new frame: the last one goes again
    finally:
        output.stop()
    camera = cameras[0]
    assert camera.size == (640, 360) and camera.kwargs == {"backend": "v4l2loopback", "device": "/dev/video10"}
    assert camera.sent[0].max() == 0  # black until the first swapped frame
    assert camera.sent[-1].min() == 200
    assert camera.closed and output.status().state == "stopped"


def test_missing_virtual_camera_is_reported_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    missing = VirtualCameraStatus(False, "v4l2loopback", None, None, problem="no virtual camera: module not installed",
                                  fix="sudo installers/linux/setup_v4l2loopback.sh")
    output = VirtualCameraOutput((640, 360), 30, camera_factory=lambda **k: pytest.fail("must not open"),
                                 detect=lambda: missing)
    output.start()
    try:
        assert wait_until(lambda: output.status().state == "unavailable", 3)
        assert "setup_v4l2loopback.sh" in output.status().detail and "not installed" in output.status().detail
    finally:
        output.stop()
    assert output.status().never_worked and "setup_v4l2loopback.sh" in output.status().last_error


def test_the_loopback_frame_rate_is_announced_with_v4l2loopback_ctl(monkeypatch) -> None:
    from app.pipeline.outputs import virtual_camera

    calls = []

    class Done:
        returncode = 0

    monkeypatch.setattr(virtual_camera.shutil, "which", lambda name: "/usr/bin/v4l2loopback-ctl")
    assert virtual_camera.announce_fps("/dev/video10", 30.0, run=lambda cmd, **kw: calls.append(cmd) or Done())
    assert calls == [["/usr/bin/v4l2loopback-ctl", "set-fps", "/dev/video10", "30"]]
    monkeypatch.setattr(virtual_camera.shutil, "which", lambda name: None)
    assert not virtual_camera.announce_fps("/dev/video10", 30.0)  # not installed: nothing to do, no error


@pytest.mark.parametrize(("url", "shown"), [
    ("rtmp://live.twitch.tv/app/live_123456_SECRETkey", "rtmp://live.twitch.tv/app/****"),
    ("rtmps://a.rtmp.youtube.com:443/live2/abcd-SECRET-efgh", "rtmps://a.rtmp.youtube.com:443/live2/****"),
    ("rtmp://bob:SECRETpw@127.0.0.1:1935/live/SECRETkey", "rtmp://****@127.0.0.1:1935/live/****"),
    ("srt://10.0.0.5:9000?streamid=publish&passphrase=SECRETphrase", "srt://10.0.0.5:9000?****"),
    ("udp://127.0.0.1:5000", "udp://127.0.0.1:5000"),  # nothing secret: shown whole
])
def test_a_streams_status_never_shows_its_key(url: str, shown: str) -> None:
    """The stream's status line reaches the studio, the logs and the API's viewers: a stream key or a
    password in its URL is shown as ****, the server it goes to still named (as OBS does)."""
    from app.pipeline.outputs.stream import StreamOutput
    from app.storage.uri import masked_url

    assert masked_url(url) == shown
    described = StreamOutput(url, 30.0)._describe()  # the status an open stream reports
    assert described.startswith(shown + " (") and "SECRET" not in described
