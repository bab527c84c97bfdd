"""The processing thread: newest captured frame → (mirror) → engine → every output.

Controls are applied between frames from the ControlBoard, so a switch takes effect on the next
frame without locking the engine. Engine failures never stop the stream: the frame goes out
unswapped and the error is counted (the built-in engine already does this itself and marks its
health degraded; this also covers engines that raise).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2

from engines.base import Engine, SwapContext

from .controls import ControlBoard, ControlState, check_face_mode
from .frame import LiveFrame, now
from .outputs.hub import OutputHub
from .slot import LatestSlot
from .stats import PipelineStats

log = logging.getLogger(__name__)

ERROR_MESSAGE_HOLD_S = 2.0  # an engine-error status line stays this long after the last error


class Processor:
    def __init__(self, engine: Engine, context: SwapContext, inbox: LatestSlot[LiveFrame], hub: OutputHub,
                 stats: PipelineStats, board: ControlBoard,
                 on_status: Callable[[str], None] = lambda message: None,
                 prepare: Callable[[LiveFrame, SwapContext], None] | None = None,
                 done: Callable[[LiveFrame], None] | None = None) -> None:
        self.engine = engine
        # Per-frame additions (lip sync: the frame's mel window before the engine, its latency after).
        self.prepare = prepare
        self.done = done
        self.context = context
        self.inbox = inbox
        self.hub = hub
        self.stats = stats
        self.board = board
        self.on_status = on_status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._version = -1
        self._mirror = False
        self._last_error_at: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-process", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.inbox.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _apply(self, state: ControlState) -> None:
        ctx = self.context
        ctx.bypass = state.bypass
        ctx.enhance = state.enhancing
        ctx.selection = check_face_mode(state.face_mode)
        ctx.identities = list(state.identities)  # only on a change of version: cheap
        ctx.active = state.active_source
        ctx.references = list(state.references)
        ctx.position = state.position
        ctx.mouth_mask = state.mouth_mask
        ctx.enhance_blend = state.enhance_blend
        self._mirror = state.mirror

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.inbox.get(timeout=0.1)
            if frame is None:
                continue
            version, state = self.board.read()
            if version != self._version:
                self._apply(state)
                self._version = version
            self.process(frame)

    def process(self, frame: LiveFrame) -> LiveFrame:
        started = now()
        self.stats.stage("wait", (started - frame.captured_at) * 1000.0)
        image = frame.image
        if self._mirror:
            t = time.perf_counter()
            image = cv2.flip(image, 1)  # a new array: the captured one is never written to
            self.stats.stage("mirror", (time.perf_counter() - t) * 1000.0)
        ctx = self.context
        ctx.timestamp = frame.captured_at
        t = time.perf_counter()
        try:
            if self.prepare is not None:
                self.prepare(frame, ctx)
            out = self.engine.process(image, ctx)
        except Exception as error:  # noqa: BLE001 — the stream must outlive any engine failure
            self.stats.error()
            out = image
            if self._last_error_at is None:
                log.warning("engine failed, frames pass through: %s", error, exc_info=True)
            self._last_error_at = now()
            self.on_status(f"engine error, frames pass through unswapped: {type(error).__name__}: {error}")
        else:
            if self._last_error_at is not None and now() - self._last_error_at > ERROR_MESSAGE_HOLD_S:
                self._last_error_at = None
                self.on_status("")
        self.stats.stage("process", (time.perf_counter() - t) * 1000.0)
        done = now()
        self.stats.processed(frame.captured_at, done)
        result = frame.processed(out, done)
        self.hub.publish(result)
        if self.done is not None:
            self.done(result)
        return result
