"""A live session: capture → process → outputs, on worker threads, controlled from any thread.

Threads: one supervisor (loads the engine, opens the camera, starts the rest, writes --stats-json
every second, tears down), one capture, one processor, one per output. Every hand-over between them
is a bounded newest-wins slot, so latency cannot grow with time. The caller's thread (the GUI's)
only flips flags and reads snapshots; anything slow a control needs (recognising new source photos,
loading the enhancer) runs on a side thread, and frames keep flowing meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engines.base import Engine, Identity, SwapContext
from engines.builtin.runtime.timing import STREAM_TIMER, StageTimer
from engines.errors import InputError, SwapCastError

from .api import LiveConfig, LiveStats, PreviewListener, SessionState
from .capture import Capture, SourceInfo, open_source
from .controls import ControlBoard, ControlState, check_face_mode
from .frame import now
from .outputs import (
    Listeners, Output, OutputHub, PreviewOutput, RecordingOutput, StreamOutput, VirtualCameraOutput, check_stream_url,
)
from .processor import Processor
from .slot import LatestSlot
from .stats import PipelineStats, write_json_atomic

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
OUTPUT_STOP_S = 10.0  # a recording's encoder flush and faststart rewrite can take a few seconds
# Temporal keypoint smoothing (One Euro) steadies the swapped face without lag on motion.
LIVE_SMOOTHING = True


def load_default_engine(models: Path | None) -> Engine:
    """The built-in engine for --models DIR (or the catalog), shared with offline jobs in this process."""
    from app.engine_host.cache import live_engine

    # The in-process engine the integration settings pick for live mode (builtin, or its lite profile).
    _name, engine = live_engine(str(models) if models else None)
    return engine


def source_groups(config: LiveConfig) -> tuple[tuple[Path, ...], ...]:
    """One tuple of photos per identity: `identities` when given, else one photo per `sources` entry."""
    if config.identities:
        return tuple(tuple(Path(p) for p in group) for group in config.identities)
    return tuple((Path(p),) for p in config.sources)


class LiveSession:
    """Implements `LiveControls`. Thread-safe; no method blocks for long except `stop`/`wait`,
    which wait at most their timeout."""

    def __init__(self, config: LiveConfig, engine: Engine | None = None) -> None:
        check_face_mode(config.face_mode)
        if config.stream_url:
            check_stream_url(config.stream_url)
        self.config = config
        self._engine = engine
        self._lock = threading.RLock()
        self._state = SessionState.STOPPED
        self._started = False
        self._messages: dict[str, str] = {"session": "not started"}
        self.pipeline_stats = PipelineStats()
        self._stage_timer = StageTimer()
        self._board = ControlBoard(ControlState(mirror=config.mirror, face_mode=config.face_mode,
                                                position=max(0, config.position), mouth_mask=config.mouth_mask,
                                                enhance_blend=min(1.0, max(0.0, config.enhance_blend))))
        self._enhance_wanted = config.enhance
        self._pending_groups: tuple[tuple[Path, ...], ...] | None = None
        # Set once the start-up sequence has loaded the engine, the enhancer and the identities: from
        # then on the controls that need the engine run as side tasks; before, they are left for it.
        self._engine_ready = False
        self._listeners = Listeners()
        self._hub = OutputHub()
        self._retiring: list[Output] = []
        self._wanted_vcam = config.virtual_cam
        self._wanted_record: Path | None = Path(config.record_path) if config.record_path else None
        self._wanted_stream: str | None = config.stream_url
        self._outputs_live = False
        self._source_info: SourceInfo | None = None
        self._capture: Capture | None = None
        self._processor: Processor | None = None
        self._side: ThreadPoolExecutor | None = None
        self._stop_event = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.running_since: float | None = None

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("a LiveSession starts once; make a new one to start again")
            self._started = True
            self._state = SessionState.STARTING
            self._messages = {"session": "starting"}
        self._thread = threading.Thread(target=self._supervise, name="live-session", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask everything to stop (recording finalised) and wait up to `timeout` for it."""
        self._stop_event.set()
        if self._started:
            self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the session is STOPPED or FAILED (at once if it was never started)."""
        if not self._started:
            return True
        return self._done.wait(timeout)

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def message(self) -> str:
        with self._lock:
            return " · ".join(m for m in self._messages.values() if m)

    def _status(self, key: str, text: str) -> None:
        with self._lock:
            if text:
                self._messages[key] = text
            else:
                self._messages.pop(key, None)

    # ---- the supervisor thread ---------------------------------------------------------------
    def _supervise(self) -> None:
        try:
            self._startup()
        except SwapCastError as error:
            self._fail(error.one_line())
            return
        except Exception as error:  # noqa: BLE001 — anything unexpected still ends as FAILED, with why
            log.exception("live session failed to start")
            self._fail(f"{type(error).__name__}: {error}")
            return
        if not self._stop_event.is_set():
            with self._lock:
                self._state = SessionState.RUNNING
                self._messages.pop("session", None)
            self.running_since = now()
            self._watch()
        self._teardown(SessionState.STOPPED)

    def _watch(self) -> None:
        assert self.running_since is not None
        deadline = self.running_since + self.config.duration_s if self.config.duration_s else None
        while True:
            pause = STATS_EVERY_S if deadline is None else max(0.0, min(STATS_EVERY_S, deadline - now()))
            if self._stop_event.wait(pause):
                return
            self._write_stats()
            if deadline is not None and now() >= deadline:
                return

    def _startup(self) -> None:
        self._status("session", "loading models")
        engine = self._engine or load_default_engine(self.config.models)
        with self._lock:
            self._engine = engine
        if self._stop_event.is_set():
            return
        if self._enhance_wanted:
            self._status("session", "loading the enhancer")
            self._load_enhancer(engine)
            self._board.update(enhance=True)
        self._status("session", "recognising the source face(s)")
        with self._lock:
            groups = self._pending_groups or source_groups(self.config)
            self._pending_groups = None
        if not groups:
            raise InputError("no source face given", "pass -s PHOTO (one or more)")
        identities = self._recognise(engine, groups)
        references = self._recognise(engine, [(p,) for p in self.config.references]) if self.config.references else ()
        board = self._board.update(identities=identities, references=references,
                                   active_source=min(self._board.state.active_source, len(identities) - 1))
        self._note_face_mode(board.face_mode)
        with self._lock:
            self._engine_ready = True
            # Controls that arrived while the steps above ran: apply them now, off this thread.
            late_groups, self._pending_groups = self._pending_groups, None
            late_enhance = self._enhance_wanted and not self._board.state.enhance
        if late_groups is not None:
            self._side_task(lambda: self._replace_sources(engine, late_groups))
        if late_enhance:
            self._side_task(lambda: self._enable_enhancer(engine))
        if self._stop_event.is_set():
            return
        self._status("session", f"opening {self.config.camera}")
        source = open_source(self.config.camera, self.config.size, self.config.fps)
        capture = Capture(source, LatestSlot(1), self.pipeline_stats, lambda text: self._status("camera", text))
        self._source_info = capture.open()
        self._capture = capture
        context = SwapContext(identities=list(board.identities), active=board.active_source,
                              selection=check_face_mode(board.face_mode), enhance=board.enhance,
                              smoothing=LIVE_SMOOTHING, on_error="pass", in_place=True,
                              stream_state={STREAM_TIMER: self._stage_timer})
        self._processor = Processor(engine, context, capture.slot, self._hub, self.pipeline_stats, self._board,
                                    lambda text: self._status("engine", text))
        with self._lock:
            preview = PreviewOutput(self._listeners, window=self.config.preview, stats=self.pipeline_stats,
                                    on_close=self._stop_event.set)
            preview.start()
            self._hub.add(preview)
            self._outputs_live = True
            self._reconcile_outputs()
        self.pipeline_stats.reset_clock()
        self._processor.start()
        capture.start()

    def _recognise(self, engine: Engine, groups: Sequence[Sequence[Path]]) -> tuple[Identity, ...]:
        build = getattr(engine, "identity", None)
        if build is None:
            raise InputError(f"the {engine.name} engine cannot recognise source photos", "use the built-in engine")
        identities = []
        for group in groups:
            for path in group:
                if not Path(path).is_file():
                    raise InputError(f"source photo {path} not found", "check the path")
            identities.append(build(list(group)))
        return tuple(identities)

    @staticmethod
    def _load_enhancer(engine: Engine) -> None:
        ensure = getattr(engine, "ensure_enhancer", None)
        if ensure is not None:
            ensure()

    def _fail(self, message: str) -> None:
        log.error("live session failed: %s", message)
        self._teardown(SessionState.FAILED, message)

    def _teardown(self, final: SessionState, message: str | None = None) -> None:
        with self._lock:
            if final is SessionState.STOPPED:
                self._state = SessionState.STOPPING
            self._outputs_live = False
        if self._capture is not None:
            self._capture.stop()
        if self._processor is not None:
            self._processor.stop()
        outputs = list(self._hub.outputs()) + self._retiring
        for output in outputs:
            output.request_stop()
        for output in outputs:
            output.join(OUTPUT_STOP_S)
        if self._side is not None:
            self._side.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._state = final
            self._messages = {"session": message} if message else {}
            if final is SessionState.STOPPED:
                self._messages.update({f"out:{o.name}": o.status().detail for o in outputs
                                       if isinstance(o, RecordingOutput) and o.written})
        self._write_stats()
        self._done.set()

    def _write_stats(self) -> None:
        if self.config.stats_json is None:
            return
        try:
            write_json_atomic(Path(self.config.stats_json), self.stats())
        except OSError as error:
            self._status("stats", f"cannot write {self.config.stats_json}: {error.strerror or error}")

    # ---- outputs -----------------------------------------------------------------------------
    def _output_fps(self) -> float:
        info = self._source_info
        return info.fps if info is not None and info.fps > 0 else self.config.fps

    def _reconcile_outputs(self) -> None:
        """Make the running outputs match what is wanted (called with the lock held)."""
        if not self._outputs_live:
            return
        hub = self._hub
        vcam = hub.find("virtual camera")
        if self._wanted_vcam and vcam is None:
            info = self._source_info
            size = (info.width, info.height) if info and info.width and info.height else self.config.size
            self._add(VirtualCameraOutput(size, self.config.fps, self.config.vcam_backend, self.config.vcam_device,
                                          stats=self.pipeline_stats))
        elif not self._wanted_vcam and vcam is not None:
            self._retire(vcam)
        record = hub.find("recording")
        if record is not None and (not isinstance(record, RecordingOutput) or record.path != self._wanted_record):
            self._retire(record)
            record = None
        if self._wanted_record is not None and record is None:
            self._add(RecordingOutput(self._wanted_record, self._output_fps(), stats=self.pipeline_stats))
        stream = hub.find("stream")
        if stream is not None and (not isinstance(stream, StreamOutput) or stream.url != self._wanted_stream):
            self._retire(stream)
            stream = None
        if self._wanted_stream and stream is None:
            self._add(StreamOutput(self._wanted_stream, self._output_fps(), stats=self.pipeline_stats))

    def _add(self, output: Output) -> None:
        output.start()
        self._hub.add(output)

    def _retire(self, output: Output) -> None:
        # Off the frame path at once; its thread finishes (a recording is finalised) by itself and
        # the session joins it at the end.
        self._hub.remove(output)
        output.request_stop()
        self._retiring = [o for o in self._retiring if o.running] + [output]

    # ---- LiveControls ------------------------------------------------------------------------
    def set_bypass(self, on: bool) -> None:
        self._board.update(bypass=bool(on))

    def set_mirror(self, on: bool) -> None:
        self._board.update(mirror=bool(on))

    def set_face_mode(self, mode: str) -> None:
        check_face_mode(mode)
        self._board.update(face_mode=mode)
        self._note_face_mode(mode)

    def _note_face_mode(self, mode: str) -> None:
        # Without reference photos "reference" matches no face: say so rather than leave the user
        # wondering why nothing is swapped.
        missing = mode == "reference" and not self._board.state.references
        self._status("faces", "reference mode has no reference faces: nothing is swapped" if missing else "")

    def set_position(self, index: int) -> None:
        self._board.update(position=max(0, int(index)))

    def set_mouth_mask(self, on: bool) -> None:
        self._board.update(mouth_mask=bool(on))

    def set_enhance_blend(self, amount: float) -> None:
        self._board.update(enhance_blend=min(1.0, max(0.0, float(amount))))

    def set_references(self, photos: tuple[Path, ...]) -> None:
        with self._lock:
            engine = self._engine if self._engine_ready else None
        if engine is None:
            self._status("faces", "reference photos can be set once the session is running")
            return
        paths = tuple(Path(p) for p in photos)

        def recognise() -> None:
            try:
                references = self._recognise(engine, [(p,) for p in paths])
            except Exception as error:  # noqa: BLE001 — keep the old references
                self._status("faces", f"reference faces unchanged: {_one_line(error)}")
                return
            self._board.update(references=references)
            self._note_face_mode(self._board.state.face_mode)

        self._side_task(recognise)

    def set_active_source(self, index: int) -> None:
        count = len(self._board.state.identities)
        if index < 0 or (count and index >= count):
            self._status("controls", f"there is no source #{index + 1} (have {count})")
            return
        self._status("controls", "")
        self._board.update(active_source=int(index))

    def set_enhance(self, on: bool) -> None:
        with self._lock:
            self._enhance_wanted = bool(on)
            engine = self._engine if self._engine_ready else None
        if not on:
            self._board.update(enhance=False)
        elif engine is not None:
            self._side_task(lambda: self._enable_enhancer(engine))
        # else: the start-up sequence loads it once the engine is there

    def _enable_enhancer(self, engine: Engine) -> None:
        """Side task: load the enhancer (seconds with real models) while frames flow, then switch it on."""
        self._status("enhancer", "loading the enhancer…")
        try:
            self._load_enhancer(engine)
        except Exception as error:  # noqa: BLE001 — a missing model file must not end the session
            with self._lock:
                self._enhance_wanted = False
            self._status("enhancer", f"enhancer unavailable: {_one_line(error)}")
            return
        self._status("enhancer", "")
        with self._lock:
            if self._enhance_wanted:
                self._board.update(enhance=True)

    def set_sources(self, identities: tuple[tuple[Path, ...], ...]) -> None:
        groups = tuple(tuple(Path(p) for p in group) for group in identities if group)
        with self._lock:
            engine = self._engine if self._engine_ready else None
            if engine is None:
                self._pending_groups = groups  # recognised by the start-up sequence
                return
        self._side_task(lambda: self._replace_sources(engine, groups))

    def _replace_sources(self, engine: Engine, groups: tuple[tuple[Path, ...], ...]) -> None:
        """Side task: recognise new source photos (detector + recognizer runs) off the frame path."""
        self._status("sources", "recognising the new source face(s)…")
        try:
            if not groups:
                raise InputError("no source face given")
            new = self._recognise(engine, groups)
        except Exception as error:  # noqa: BLE001 — keep swapping with the old faces
            self._status("sources", f"source faces unchanged: {_one_line(error)}")
            return
        active = self._board.state.active_source
        self._board.update(identities=new, active_source=active if active < len(new) else 0)
        self._status("sources", "")

    def set_virtual_cam(self, on: bool) -> None:
        with self._lock:
            self._wanted_vcam = bool(on)
            self._reconcile_outputs()

    def set_recording(self, path: Path | None) -> None:
        with self._lock:
            self._wanted_record = Path(path) if path else None
            self._reconcile_outputs()

    def set_stream(self, url: str | None) -> None:
        if url:
            check_stream_url(url)
        with self._lock:
            self._wanted_stream = url or None
            self._reconcile_outputs()

    def _side_task(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._side is None:
                # One worker: control tasks run in the order they were asked for.
                self._side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-control")
            try:
                self._side.submit(fn)
            except RuntimeError:
                pass  # the session is shutting down

    # ---- observation -------------------------------------------------------------------------
    def add_preview_listener(self, fn: PreviewListener) -> Callable[[], None]:
        """fn(frame, capture time) on the preview thread for each swapped frame; returns unsubscribe."""
        return self._listeners.add(fn)

    def stats(self) -> LiveStats:
        snap = self.pipeline_stats.snapshot()
        with self._lock:
            engine = self._engine
            state, message = self._state, self.message
        health = engine.health() if engine is not None and self._started else None
        stages = dict(snap.stages_ms)
        # This session's own frames only (the engine may also be running offline jobs).
        stages.update({k: round(v, 3) for k, v in self._stage_timer.means().items()})
        controls = self._board.state
        return LiveStats(
            state=state, message=message, fps_in=snap.fps_in, fps_out=snap.fps_out,
            latency_ms_p50=snap.latency_ms_p50, latency_ms_p95=snap.latency_ms_p95, dropped=snap.dropped,
            frames=snap.frames, stages_ms=stages, outputs=self._hub.statuses(), engine=health,
            bypass=controls.bypass, mirror=controls.mirror, enhance=self._enhance_wanted,
            face_mode=controls.face_mode, active_source=controls.active_source, mouth_mask=controls.mouth_mask,
        )

    @property
    def source_info(self) -> SourceInfo | None:
        return self._source_info

    @property
    def capture(self) -> Capture | None:
        return self._capture


def _one_line(error: BaseException) -> str:
    return error.one_line() if isinstance(error, SwapCastError) else f"{type(error).__name__}: {error}"
