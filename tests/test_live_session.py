"""Live sessions end to end on the generated models, with the sample video as the camera:
the UDP stream and the recording carry swapped frames at the camera's rate, a slow engine drops
frames instead of building latency, controls act within a few frames, a failing camera is reopened,
and the virtual camera is used where one exists."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from app.devices.virtual_camera import detect_virtual_camera
from app.pipeline import LiveConfig, LiveSession, SessionState
from app.pipeline.testing import FrameCollector, PassEngine, SlowEngine, SyntheticSource, wait_until
from engines.base import LoadOptions
from engines.builtin.engine import BuiltinEngine
from engines.metadata import AI_TAG
from engines.models.store import ModelStore
from engines.testing.synthetic_face import identity_by_name

AMBER = np.array(identity_by_name("amber").skin_bgr, float)  # the face in target.mp4
CORAL = np.array(identity_by_name("coral").skin_bgr, float)  # source_a.png
LIME = np.array(identity_by_name("lime").skin_bgr, float)  # source_b.png


@pytest.fixture(scope="module")
def engine(kit_dir: Path) -> BuiltinEngine:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions())
    return engine


@pytest.fixture()
def config(kit_dir: Path) -> LiveConfig:
    samples = kit_dir / "samples"
    return LiveConfig(sources=(samples / "source_a.png",), camera=str(samples / "target.mp4"), models=kit_dir)


@contextmanager
def running(config: LiveConfig, engine, listener=None) -> Iterator[LiveSession]:
    session = LiveSession(config, engine)
    if listener is not None:
        session.add_preview_listener(listener)
    session.start()
    try:
        assert wait_until(lambda: session.state is not SessionState.STARTING, 20)
        assert session.state is SessionState.RUNNING, session.stats().message
        yield session
    finally:
        session.stop(timeout=15)
        assert session.wait(0)


def cheek_colour(engine: BuiltinEngine, frame: np.ndarray) -> np.ndarray | None:
    """Mean BGR of the cheeks of the largest face the detector finds (None: no face)."""
    faces = engine.faces(frame)
    if not faces:
        return None
    kps = max(faces, key=lambda f: f.area).kps
    cheeks = [(kps[0] + kps[3]) / 2, (kps[1] + kps[4]) / 2]
    patches = [frame[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4].reshape(-1, 3) for x, y in cheeks]
    return np.concatenate(patches).mean(axis=0)


def looks_like(engine: BuiltinEngine, frame: np.ndarray, skin: np.ndarray, tolerance: float = 30) -> bool:
    colour = cheek_colour(engine, frame)
    return colour is not None and float(np.abs(colour - skin).max()) < tolerance


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- outputs


def test_udp_stream_carries_swapped_frames_at_the_camera_rate(config, engine) -> None:
    port = free_udp_port()
    received: dict[str, object] = {}
    pts: list[int] = []
    samples: list[np.ndarray] = []
    listening = threading.Event()

    def client() -> None:  # a real client: what OBS's Media Source does with the URL
        try:
            listening.set()
            with av.open(f"udp://127.0.0.1:{port}?timeout=10000000&overrun_nonfatal=1&fifo_size=2000000",
                         format="mpegts", timeout=15) as container:
                stream = container.streams.video[0]
                received.update(rate=stream.average_rate, size=(stream.codec_context.width, stream.codec_context.height),
                                time_base=stream.time_base)
                for frame in container.decode(stream):
                    pts.append(frame.pts)
                    if len(pts) % 15 == 0:
                        samples.append(frame.to_ndarray(format="bgr24"))
                    if len(pts) >= 75:
                        return
        except Exception as error:  # noqa: BLE001 — reported by the assertions below
            received["error"] = error

    reader = threading.Thread(target=client, daemon=True)
    reader.start()
    listening.wait(5)
    time.sleep(0.2)  # the socket is bound inside av.open
    with running(replace(config, stream_url=f"udp://127.0.0.1:{port}"), engine) as session:
        reader.join(20)
        status = next(o for o in session.stats().outputs if o.name == "stream")
    assert "error" not in received, received.get("error")
    assert received["size"] == (1280, 720) and received["rate"] == 30
    # Timestamps follow the camera's clock at its 30 fps: 75 frames span at least 74 frame intervals
    # (never compressed), and more only where frames were dropped (a generous band: CI machines are busy).
    span_s = float((pts[-1] - pts[0]) * received["time_base"])
    assert len(pts) == 75 and 74 / 30 - 0.01 <= span_s <= 75 / 30 * 3
    steps = np.diff(pts) * float(received["time_base"])
    assert np.median(steps) == pytest.approx(1 / 30, abs=0.002)
    assert status.state in ("ok", "stopped") and status.frames_sent >= 75
    # The face in the stream wears the source's skin (coral), not the camera's (amber).
    swapped = [s for s in samples if looks_like(engine, s, CORAL)]
    assert len(swapped) >= len(samples) - 1 and samples


def test_recording_has_the_size_rate_and_tag_and_appears_only_when_finished(config, engine, tmp_path) -> None:
    out = tmp_path / "live.mp4"
    with running(replace(config, record_path=out), engine) as session:
        assert wait_until(lambda: session.stats().frames >= 45, 10)
        assert not out.exists()  # written beside it, renamed into place at stop
    assert out.exists() and not list(tmp_path.glob(".live*.part*"))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert float(stream.guessed_rate) == 30  # the camera's rate, declared
        # Frames over duration: 30 unless the machine was too busy to keep up (then frames are dropped).
        assert stream.average_rate is not None and 10 <= float(stream.average_rate) <= 30.5
        assert AI_TAG in container.metadata.get("comment", "")
        frames = [f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(stream)) if i in (5, 30)]
    assert all(looks_like(engine, f, CORAL) for f in frames)


def test_a_failing_stream_is_retried_while_the_recording_goes_on(config, engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("app.pipeline.outputs.base.RETRY_BACKOFF_S", (0.2,))
    out = tmp_path / "kept.mp4"
    bad = replace(config, record_path=out, stream_url="tcp://127.0.0.1:9")  # nothing listens there
    with running(bad, engine) as session:
        assert wait_until(lambda: any(o.name == "stream" and o.state == "retrying" for o in session.stats().outputs), 10)
        recording = lambda: next(o for o in session.stats().outputs if o.name == "recording")  # noqa: E731
        assert wait_until(lambda: recording().frames_sent >= 20, 10)
        assert recording().state == "ok"
    assert out.exists()


# ---------------------------------------------------------------- latency under load


def test_a_slow_engine_drops_stale_frames_and_latency_does_not_grow(config, engine) -> None:
    delay = 0.15
    collector = FrameCollector()
    collector.store = False
    with running(config, SlowEngine(engine, delay), collector) as session:
        assert wait_until(lambda: collector.count >= 20, 15)
        stats = session.stats()
    interval = 1 / 30
    assert stats.dropped >= 2 * stats.frames  # ~5 fps out of 30: most frames are dropped, and counted
    # A frame waits at most about one frame interval for the processor, then takes `delay`.
    assert stats.latency_ms_p95 < (delay + 4 * interval) * 1000 + 100
    latencies = [ms for _, ms in collector.latencies]
    early, late = np.median(latencies[2:8]), np.median(latencies[-6:])
    assert late < early + 2 * interval * 1000  # flat, not growing with time


# ---------------------------------------------------------------- controls


def _first_match(engine, frames: list[np.ndarray], skin: np.ndarray) -> int:
    for i, frame in enumerate(frames):
        if looks_like(engine, frame, skin):
            return i
    return len(frames)


def test_bypass_and_source_switch_act_within_a_few_frames(config, engine, kit_dir) -> None:
    collector = FrameCollector(keep=10)
    two = replace(config, identities=((kit_dir / "samples" / "source_a.png",), (kit_dir / "samples" / "source_b.png",)))
    with running(two, engine, collector) as session:
        assert wait_until(lambda: collector.count >= 5, 10)
        assert looks_like(engine, collector.after(collector.count - 1)[0], CORAL)
        for action, skin in ((lambda: session.set_active_source(1), LIME),
                             (lambda: session.set_bypass(True), AMBER),
                             (lambda: session.set_bypass(False), LIME)):
            mark = collector.count
            action()
            assert wait_until(lambda: collector.count >= mark + 7, 10)
            frames = collector.after(mark)[:7]
            first = _first_match(engine, frames, skin)
            assert first <= 3, f"took {first} frames"
            assert all(looks_like(engine, f, skin) for f in frames[first:])
        stats = session.stats()
        assert stats.active_source == 1 and not stats.bypass


def test_new_source_photos_are_recognised_without_stopping_the_frames(config, engine, kit_dir) -> None:
    collector = FrameCollector(keep=6)
    with running(config, engine, collector) as session:
        assert wait_until(lambda: collector.count >= 3, 10)
        session.set_sources(((kit_dir / "samples" / "source_b.png",),))
        mark = collector.count
        assert wait_until(lambda: looks_like(engine, collector.after(collector.count - 1)[0], LIME), 10)
        assert collector.count > mark
        session.set_sources(((kit_dir / "missing.png",),))  # a bad photo keeps the old face
        assert wait_until(lambda: "unchanged" in session.stats().message, 5)
        assert session.state is SessionState.RUNNING


def test_reference_mode_swaps_only_the_person_in_the_reference_photo(config, engine, kit_dir, tmp_path) -> None:
    from engines.imaging import write_image_atomic
    from engines.testing.synthetic_face import draw_face, plain_background

    def portrait(name: str) -> Path:
        image = plain_background(480, 480)
        draw_face(image, (240, 240), 260, identity_by_name(name))
        path = tmp_path / f"{name}.png"
        write_image_atomic(path, image)
        return path

    collector = FrameCollector(keep=6)
    someone_else = replace(config, face_mode="reference", references=(portrait("plum"),))
    with running(someone_else, engine, collector) as session:
        assert wait_until(lambda: collector.count >= 4, 10)
        assert looks_like(engine, collector.after(collector.count - 1)[0], AMBER)  # not that person: untouched
        session.set_references((portrait("amber"),))  # the person in the camera
        assert wait_until(lambda: looks_like(engine, collector.after(collector.count - 1)[0], CORAL), 10)


def test_mouth_mask_and_enhancer_blend_reach_the_engine_while_running(config, engine) -> None:
    collector = FrameCollector(keep=2)
    with running(config, engine, collector) as session:
        assert wait_until(lambda: collector.count >= 2, 10)
        session.set_mouth_mask(True)
        session.set_enhance_blend(0.3)
        mark = collector.count
        assert wait_until(lambda: collector.count >= mark + 2, 10)
        context = session._pipeline.processor.context
        assert context.mouth_mask and context.enhance_blend == pytest.approx(0.3)
        assert session.stats().mouth_mask


def test_no_usable_source_face_fails_the_start_with_a_reason(config, engine, tmp_path) -> None:
    session = LiveSession(replace(config, identities=((tmp_path / "nobody.png",),)), engine)
    session.start()
    assert session.wait(20)
    stats = session.stats()
    assert stats.state is SessionState.FAILED and "nobody.png" in stats.message


# ---------------------------------------------------------------- camera failures


def test_a_camera_that_fails_is_reopened_and_frames_flow_again(config, monkeypatch) -> None:
    source = SyntheticSource(fail_after=10)
    monkeypatch.setattr("app.pipeline.startup.open_source", lambda camera, size, fps: source)
    collector = FrameCollector(keep=2)
    messages: list[str] = []
    with running(replace(config, camera="0"), PassEngine(), collector) as session:
        assert wait_until(lambda: (messages.append(session.stats().message) or source.opens >= 2)
                          and collector.count >= 20, 10)
        assert session.state is SessionState.RUNNING
    assert any("reopening" in m for m in messages)
    assert session.capture is not None and session.capture.reopens == 1


def test_engine_errors_pass_frames_through_and_the_stream_lives_on(config, monkeypatch) -> None:
    monkeypatch.setattr("app.pipeline.startup.open_source", lambda camera, size, fps: SyntheticSource())
    collector = FrameCollector(keep=2)
    with running(replace(config, camera="0"), PassEngine(fail_on=set(range(3, 6))), collector) as session:
        assert wait_until(lambda: "engine error" in session.stats().message, 5)
        assert wait_until(lambda: collector.count >= 15, 5)


# ---------------------------------------------------------------- virtual camera


def test_virtual_camera_unavailable_is_reported_and_the_rest_runs_on(config, engine) -> None:
    status = detect_virtual_camera()
    if status.available:
        pytest.skip(f"a virtual camera exists here ({status.summary()})")
    collector = FrameCollector(keep=1)
    with running(replace(config, virtual_cam=True), engine, collector) as session:
        assert wait_until(lambda: collector.count >= 10, 10)
        vcam = next(o for o in session.stats().outputs if o.name == "virtual camera")
    assert vcam.state == "unavailable" and status.problem and status.problem in vcam.detail
    assert status.fix and status.fix in vcam.detail


def test_virtual_camera_through_pyvirtualcam(config, engine) -> None:
    status = detect_virtual_camera()
    if not status.available:
        pytest.skip(f"no virtual camera on this machine: {status.problem} — {status.fix}")
    import cv2

    with running(replace(config, virtual_cam=True, vcam_device=status.device), engine) as session:
        assert wait_until(lambda: any(o.name == "virtual camera" and o.state == "ok" and o.frames_sent > 30
                                      for o in session.stats().outputs), 10)
        reader = cv2.VideoCapture(status.device)
        try:
            ok, frame = reader.read()
        finally:
            reader.release()
    assert ok and frame.shape[:2] == (720, 1280)


# ---------------------------------------------------------------- switching outputs and the enhancer


def test_recording_and_enhancer_switch_on_and_off_while_running(config, engine, tmp_path) -> None:
    out = tmp_path / "clip.mp4"
    with running(config, engine) as session:
        session.set_recording(out)
        assert wait_until(lambda: any(o.name == "recording" and o.frames_sent >= 10 for o in session.stats().outputs), 10)
        session.set_recording(None)  # finalised on its own thread; the session goes on
        assert wait_until(out.exists, 10)
        assert all(o.name != "recording" for o in session.stats().outputs)
        frames_before = session.stats().frames
        session.set_enhance(True)  # the enhancer loads on a side thread, then applies
        assert wait_until(lambda: "enhance" in session.stats().stages_ms, 15)
        assert any(m.role == "enhancer" for m in session.stats().engine.models)
        assert session.stats().frames > frames_before and session.stats().enhance
        session.set_enhance(False)
        assert not session.stats().enhance
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames >= 10


def test_controls_given_before_and_while_starting_are_applied(config, engine, kit_dir) -> None:
    collector = FrameCollector(keep=2)
    session = LiveSession(config, engine)
    session.add_preview_listener(collector)
    session.set_mirror(True)
    session.start()
    session.set_sources(((kit_dir / "samples" / "source_b.png",),))  # while the engine may still be loading
    try:
        assert wait_until(lambda: collector.count >= 3
                          and looks_like(engine, collector.after(collector.count - 1)[0], LIME), 10)
        assert session.stats().mirror and session.state is SessionState.RUNNING
    finally:
        session.stop(timeout=15)


def test_stage_times_are_this_sessions_own_even_when_the_engine_is_shared(config, engine) -> None:
    from engines.base import SwapContext

    collector = FrameCollector(keep=2)
    with running(config, engine, collector) as session:
        assert wait_until(lambda: collector.count >= 5, 10)
        # An offline job on the same engine with the enhancer: its stage must not show up live.
        engine.process_batch([collector.after(collector.count - 1)[0].copy()],
                             SwapContext(identities=[engine.identity(list(config.identities[0]))], enhance=True))
        assert "enhance" in engine.health().stages_ms
        assert "detect" in session.stats().stages_ms and "enhance" not in session.stats().stages_ms


# ---------------------------------------------------------------- one owner per control; checks at start


class _GatedEnhancerEngine(PassEngine):
    """Loading the enhancer waits until the test lets it finish (a real one takes seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = threading.Event()
        self.finish_loading = threading.Event()

    def ensure_enhancer(self) -> None:
        self.loading.set()
        assert self.finish_loading.wait(10)


def _synthetic_camera(monkeypatch) -> None:
    monkeypatch.setattr("app.pipeline.startup.open_source", lambda camera, size, fps: SyntheticSource(), raising=False)


def test_the_enhancer_switch_is_one_state_the_status_and_the_frames_agree_on(config, monkeypatch) -> None:
    _synthetic_camera(monkeypatch)
    engine = _GatedEnhancerEngine()
    session = LiveSession(replace(config, camera="0", enhance=True), engine)
    session.start()
    try:
        assert engine.loading.wait(10)  # start-up is loading the enhancer the config asked for…
        session.set_enhance(False)  # …and the user switches it off meanwhile
        engine.finish_loading.set()
        assert wait_until(lambda: session.state is SessionState.RUNNING and engine.calls >= 5, 10)
        # What the GUI shows (stats) is what the frames get: off.
        assert not session.stats().enhance and not engine.contexts[-1].enhance
        session.set_enhance(True)  # loaded already: on for the next frames, and shown on
        assert session.stats().enhance
        assert wait_until(lambda: engine.contexts[-1].enhance, 5)
    finally:
        session.stop(timeout=15)


def test_a_session_whose_only_output_cannot_work_fails_at_start_with_the_fix(config, monkeypatch) -> None:
    status = detect_virtual_camera()
    if status.available:
        pytest.skip(f"a virtual camera exists here ({status.summary()})")
    opened: list[str] = []
    monkeypatch.setattr("app.pipeline.startup.open_source",
                        lambda camera, size, fps: opened.append(camera) or SyntheticSource(), raising=False)
    session = LiveSession(replace(config, camera="0", virtual_cam=True), PassEngine())
    session.start()
    assert session.wait(10)
    stats = session.stats()
    assert stats.state is SessionState.FAILED and status.problem in stats.message and status.fix in stats.message
    assert not opened  # refused before the camera was touched


def test_a_recording_folder_that_takes_no_files_fails_the_start_naming_it(config, tmp_path, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    opened: list[str] = []
    monkeypatch.setattr("app.pipeline.startup.open_source",
                        lambda camera, size, fps: opened.append(camera) or SyntheticSource(), raising=False)
    try:
        folder = locked if not _can_write(locked) else Path("/sys/kernel")  # root ignores the mode bits
        if _can_write(folder):
            pytest.skip("no folder here refuses writes to this user")
        session = LiveSession(replace(config, camera="0", record_path=folder / "rec.mp4"), PassEngine())
        session.start()
        assert session.wait(10)
    finally:
        locked.chmod(0o700)
    stats = session.stats()
    assert stats.state is SessionState.FAILED and f"cannot record into {folder}" in stats.message
    assert not opened


def _can_write(folder: Path) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def test_each_control_is_seen_alike_by_the_status_and_by_the_frames(config, monkeypatch) -> None:
    _synthetic_camera(monkeypatch)
    engine = PassEngine()
    with running(replace(config, camera="0"), engine) as session:
        assert wait_until(lambda: engine.calls >= 2, 10)
        checks = [
            (lambda: session.set_bypass(True), lambda s: s.bypass, lambda c: c.bypass),
            (lambda: session.set_mouth_mask(True), lambda s: s.mouth_mask, lambda c: c.mouth_mask),
            (lambda: session.set_face_mode("all"), lambda s: s.face_mode == "all", lambda c: c.selection.value == "all"),
            (lambda: session.set_position(2), lambda s: True, lambda c: c.position == 2),
            (lambda: session.set_enhance_blend(0.25), lambda s: True, lambda c: c.enhance_blend == pytest.approx(0.25)),
            (lambda: session.set_bypass(False), lambda s: not s.bypass, lambda c: not c.bypass),
        ]
        for change, in_stats, in_frames in checks:
            change()
            assert in_stats(session.stats())  # at once: the GUI's toggles reflect it
            mark = engine.calls
            assert wait_until(lambda: engine.calls >= mark + 2, 5)
            assert in_frames(engine.contexts[-1])  # and the next frames are processed with it
