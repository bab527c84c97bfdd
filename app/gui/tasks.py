"""Run slow calls (model loading, face detection, downloads, hashing) off the UI thread.

Each task runs on the studio's own QThreadPool; its result, error and progress come back as queued
signals, so callbacks always run on the GUI thread and may touch widgets. The pool is the window's,
not Qt's global one, so closing the window can wait for exactly the work it started.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from .qt_compat import emit

log = logging.getLogger(__name__)

Progress = Callable[[object], None]  # a task's way to report progress (any value) from its thread


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from a pool thread are queued to its slots."""

    finished = Signal(object)
    failed = Signal(object)
    progressed = Signal(object)

    def __init__(
        self,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
        on_progress: Callable[[Any], None] | None,
    ) -> None:
        super().__init__()
        self._on_done = on_done
        self._on_error = on_error
        self._on_progress = on_progress
        # Connected to methods of this GUI-thread object: the connection is queued whatever thread
        # emits, which a bare lambda would not guarantee.
        self.finished.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)
        self.progressed.connect(self._deliver_progress)

    @Slot(object)
    def _deliver_done(self, value: object) -> None:
        if self._on_done is not None:
            self._on_done(value)

    @Slot(object)
    def _deliver_error(self, error: object) -> None:
        if self._on_error is not None:
            self._on_error(error)  # type: ignore[arg-type]
        else:
            log.error("background task failed: %s", error)

    @Slot(object)
    def _deliver_progress(self, value: object) -> None:
        if self._on_progress is not None:
            self._on_progress(value)


class _Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], relay: _Relay, with_progress: bool,
                 gate: threading.Event | None = None) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay
        self._with_progress = with_progress
        self._gate = gate

    def _report(self, value: object) -> None:
        emit(self._relay.progressed, value)

    def run(self) -> None:  # on a pool thread
        if self._gate is not None:
            self._gate.wait()  # the pool's imports come first (see BackgroundTasks.prepare)
        try:
            result = self._fn(self._report) if self._with_progress else self._fn()
        except Exception as error:  # reported on the GUI thread; a task never kills the pool
            log.debug("background task raised", exc_info=True)
            emit(self._relay.failed, error)
        else:
            emit(self._relay.finished, result)


class BackgroundTasks(QObject):
    """A small pool for the studio's slow calls."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._relays: set[_Relay] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._imported = threading.Event()
        self._imported.set()  # nothing to wait for until prepare() is called

    def prepare(self, modules: Sequence[str]) -> None:
        """Import `modules` on one worker before any task submitted from now on starts.

        Python imports a module under a per-module lock; two threads importing modules that import
        each other deadlock, and Python breaks that with a `_DeadlockError` in one of them (a
        failed engine load or job runner at start-up, under load). Tasks that import lazily are
        safe once the modules they need were imported here, one thread doing all of it.
        """
        self._imported.clear()
        gate = self._imported

        def import_all() -> None:
            try:
                for name in modules:
                    try:
                        importlib.import_module(name)
                    except Exception:  # the task that needs it reports its own error
                        log.warning("could not import %s", name, exc_info=True)
            finally:
                gate.set()

        self._start(import_all, _Relay(None, None, None), with_progress=False, gate=None)

    def submit(
        self,
        fn: Callable[..., Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
    ) -> bool:
        """Run `fn()` (or `fn(report)` when `on_progress` is given) on the pool. False once closed."""
        if self._closed:
            return False
        self._start(fn, _Relay(on_done, on_error, on_progress), on_progress is not None, self._imported)
        return True

    def _start(self, fn: Callable[..., Any], relay: _Relay, with_progress: bool,
               gate: threading.Event | None) -> None:
        relay.finished.connect(lambda _value, r=relay: self._forget(r))
        relay.failed.connect(lambda _error, r=relay: self._forget(r))
        with self._lock:
            self._relays.add(relay)  # keeps the relay alive until its result is delivered
        self.pool.start(_Task(fn, relay, with_progress, gate))

    def _forget(self, relay: _Relay) -> None:
        with self._lock:
            self._relays.discard(relay)

    @property
    def busy(self) -> bool:
        return self.pool.activeThreadCount() > 0

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every started task ended (only at shutdown and in tests)."""
        return bool(self.pool.waitForDone(timeout_ms))

    def close(self, timeout_ms: int = 30000) -> bool:
        self._closed = True
        self.pool.clear()  # tasks not yet started are dropped
        return self.wait(timeout_ms)
