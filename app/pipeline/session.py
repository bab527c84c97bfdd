"""A live session: capture → process → outputs, on worker threads, controlled from any thread.

Threads: one supervisor (runs the start-up, writes --stats-json every second, tears down), one
capture, one processor, one per output. Every hand-over between them is a bounded newest-wins slot,
so latency cannot grow with time. The caller's thread (the GUI's) only flips flags and reads
snapshots; anything slow a control needs runs as a side task, and frames keep flowing meanwhile.

This class is the facade and the supervisor; the parts live beside it: `startup` (the start-up
sequence), `output_set` (which outputs run), `control_panel` (the controls), `side_tasks`,
`status` (the status line) and `stats`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from engines.base import Engine
from engines.builtin.runtime.timing import StageTimer
from engines.errors import SwapCastError

from .api import LiveConfig, LiveStats, PreviewListener, SessionState
from .capture import Capture, SourceInfo
from .control_panel import ControlPanel
from .controls import ControlBoard, ControlState, check_face_mode
from .frame import now
from .output_set import OutputSet
from .outputs import Listeners, OutputHub, check_stream_url
from .side_tasks import SideTasks
from .startup import Pipeline, StartUp
from .lip_sync import with_lip_sync
from .stats import PipelineStats, live_stats, write_json_atomic
from .status import StatusLine, Topic

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0


def load_default_engine(models: Path | None, *, swap: bool = True) -> Engine:
    """The built-in engine for --models DIR (or the catalog), shared with offline jobs in this process.
    `swap=False`: lip sync only (an avatar with no source faces)."""
    from app.engine_host.cache import live_engine

    # The in-process engine the integration settings pick for live mode (builtin, or its lite profile).
    _name, engine = live_engine(str(models) if models else None, swap=swap)
    return engine


class LiveSession:
    """Implements `LiveControls`. Thread-safe; no method blocks for long except `stop`/`wait`,
    which wait at most their timeout."""

    def __init__(self, config: LiveConfig, engine: Engine | None = None) -> None:
        check_face_mode(config.face_mode)
        if config.stream_url:
            check_stream_url(config.stream_url)
        self.config = config
        self._lock = threading.Lock()
        self._state = SessionState.STOPPED
        self._started = False
        self.status = StatusLine()
        self.status.set(Topic.SESSION, "not started")
        self.pipeline_stats = PipelineStats()
        self._stage_timer = StageTimer()
        board = ControlBoard(ControlState(mirror=config.mirror, enhance=config.enhance, face_mode=config.face_mode,
                                          position=max(0, config.position), mouth_mask=config.mouth_mask,
                                          enhance_blend=min(1.0, max(0.0, config.enhance_blend))))
        self._side = SideTasks()
        self.controls = ControlPanel(board, self.status, self._side)
        self.outputs = OutputSet(config, OutputHub(), self.pipeline_stats)
        self._listeners = Listeners()
        self._pipeline = Pipeline(engine=engine)
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
        self.status.reset(Topic.SESSION, "starting")
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
        return self.status.text()

    # ---- the supervisor thread ---------------------------------------------------------------
    def _supervise(self) -> None:
        given = self._pipeline.engine
        startup = StartUp(self.config, self.controls, self.outputs, self._listeners, self.pipeline_stats,
                          self._stage_timer, self.status, self._stop_event,
                          load_engine=lambda: given or load_default_engine(
                              self.config.models, swap=bool(self.config.identities) or self.config.avatar is None))
        try:
            startup.run(self._pipeline)
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
            self.status.set(Topic.SESSION, "")
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

    def _fail(self, message: str) -> None:
        log.error("live session failed: %s", message)
        self._teardown(SessionState.FAILED, message)

    def _teardown(self, final: SessionState, message: str | None = None) -> None:
        if final is SessionState.STOPPED:
            with self._lock:
                self._state = SessionState.STOPPING
        pipeline = self._pipeline
        if pipeline.capture is not None:
            pipeline.capture.stop()
        if pipeline.processor is not None:
            pipeline.processor.stop()
        if pipeline.lip_sync is not None:
            pipeline.lip_sync.stop()
        self.outputs.stop_all()
        self._side.shutdown()
        with self._lock:
            self._state = final
        self.status.reset(Topic.SESSION, message or "")
        if final is SessionState.STOPPED:
            self.status.set(Topic.OUTPUTS, " · ".join(self.outputs.saved()))
        self._write_stats()
        self._done.set()

    def _write_stats(self) -> None:
        if self.config.stats_json is None:
            return
        try:
            write_json_atomic(Path(self.config.stats_json), self.stats())
        except OSError as error:
            self.status.set(Topic.STATS, f"cannot write {self.config.stats_json}: {error.strerror or error}")

    # ---- LiveControls: outputs ---------------------------------------------------------------
    def set_virtual_cam(self, on: bool) -> None:
        self.outputs.want_virtual_cam(on)

    def set_recording(self, path: Path | None) -> None:
        self.outputs.want_recording(path)

    def set_stream(self, url: str | None) -> None:
        self.outputs.want_stream(url)

    # ---- LiveControls: picture and faces (see ControlPanel) ----------------------------------
    def set_bypass(self, on: bool) -> None:
        self.controls.set_bypass(on)

    def set_mirror(self, on: bool) -> None:
        self.controls.set_mirror(on)

    def set_enhance(self, on: bool) -> None:
        self.controls.set_enhance(on)

    def set_enhance_blend(self, amount: float) -> None:
        self.controls.set_enhance_blend(amount)

    def set_mouth_mask(self, on: bool) -> None:
        self.controls.set_mouth_mask(on)

    def set_face_mode(self, mode: str) -> None:
        self.controls.set_face_mode(mode)

    def set_position(self, index: int) -> None:
        self.controls.set_position(index)

    def set_references(self, photos: tuple[Path, ...]) -> None:
        self.controls.set_references(photos)

    def set_active_source(self, index: int) -> None:
        self.controls.set_active_source(index)

    def set_sources(self, identities: tuple[tuple[Path, ...], ...]) -> None:
        self.controls.set_sources(identities)

    # ---- observation -------------------------------------------------------------------------
    def add_preview_listener(self, fn: PreviewListener) -> Callable[[], None]:
        """fn(frame, capture time) on the preview thread for each swapped frame; returns unsubscribe."""
        return self._listeners.add(fn)

    def stats(self) -> LiveStats:
        engine = self._pipeline.engine
        with self._lock:
            state = self._state
        health = engine.health() if engine is not None and self._started else None
        stats = live_stats(state, self.message, self.pipeline_stats.snapshot(), self._stage_timer.means(),
                           self.controls.board.state, self.outputs.statuses(), health)
        lip = self._pipeline.lip_sync
        return with_lip_sync(stats, lip.figures()) if lip is not None else stats

    @property
    def source_info(self) -> SourceInfo | None:
        return self._pipeline.source_info

    @property
    def capture(self) -> Capture | None:
        return self._pipeline.capture
