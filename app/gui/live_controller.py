"""Owns the live session for the window: start, stop, controls, and what the GUI observes of it.

The pipeline runs on its own threads; this controller never waits on them on the GUI thread:
- preview frames arrive through a PreviewBridge (newest only, converted on the GUI thread);
- stats are polled by a QTimer about four times a second (`LiveSession.stats()` is a snapshot);
- `stop()` can take seconds (threads joining, a recording being finalised), so it runs on a
  background task and the GUI hears about it through `stateChanged`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from app.pipeline.api import LiveConfig, LiveStats, PreviewListener, SessionState

from .bridges import PreviewBridge
from .qt_compat import emit
from .tasks import BackgroundTasks

if TYPE_CHECKING:
    from engines.base import Engine

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 250


class LiveSessionLike(Protocol):
    """What the GUI uses of app.pipeline.session.LiveSession (the LiveControls plus lifecycle)."""

    def start(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def stats(self) -> LiveStats: ...
    def add_preview_listener(self, fn: PreviewListener) -> Callable[[], None]: ...
    def set_bypass(self, on: bool) -> None: ...
    def set_mirror(self, on: bool) -> None: ...
    def set_enhance(self, on: bool) -> None: ...
    def set_face_mode(self, mode: str) -> None: ...
    def set_active_source(self, index: int) -> None: ...
    def set_sources(self, identities: tuple[tuple[Path, ...], ...]) -> None: ...
    def set_references(self, photos: tuple[Path, ...]) -> None: ...
    def set_position(self, index: int) -> None: ...
    def set_mouth_mask(self, on: bool) -> None: ...
    def set_enhance_blend(self, amount: float) -> None: ...
    def set_virtual_cam(self, on: bool) -> None: ...
    def set_recording(self, path: Path | None) -> None: ...
    def set_stream(self, url: str | None) -> None: ...


SessionFactory = Callable[[LiveConfig, "Engine | None"], LiveSessionLike]


def default_session_factory(config: LiveConfig, engine: Engine | None) -> LiveSessionLike:
    from app.pipeline.session import LiveSession

    return LiveSession(config, engine)


FINAL = (SessionState.STOPPED, SessionState.FAILED)


class LiveController(QObject):
    statsChanged = Signal(object)  # LiveStats, on every poll while a session exists
    stateChanged = Signal(str, str)  # SessionState value, message
    errorRaised = Signal(str)  # the session could not even be created
    sessionChanged = Signal()  # `session` became a new one, or None (remote control follows it)

    def __init__(
        self,
        tasks: BackgroundTasks,
        session_factory: SessionFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._factory = session_factory or default_session_factory
        self.session: LiveSessionLike | None = None
        self.preview = PreviewBridge(self)
        self.state = SessionState.STOPPED
        self.last_stats: LiveStats | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping: list[LiveSessionLike] = []  # sessions whose stop() is still running
        self._timer = QTimer(self)
        self._timer.setInterval(STATS_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self.session is not None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, config: LiveConfig, engine: Engine | None = None) -> bool:
        if self.session is not None:
            return False
        try:
            session = self._factory(config, engine)
            self._unsubscribe = session.add_preview_listener(self.preview.listener)
            session.start()  # returns at once: models and camera open on the pipeline's threads
        except Exception as error:  # a bad config: said in the window, never a crash
            text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
            log.warning("live session could not start: %s", text)
            self._detach()
            self._set_state(SessionState.FAILED, text)
            emit(self.errorRaised, text)
            return False
        self.session = session
        emit(self.sessionChanged)
        self._set_state(SessionState.STARTING, "starting…")
        self._timer.start()
        return True

    def stop(self) -> None:
        """Ask the session to stop without waiting for it."""
        session = self.session
        if session is None:
            return
        self._set_state(SessionState.STOPPING, "stopping…")
        self._release(session)

    def _release(self, session: LiveSessionLike) -> None:
        """Detach `session` from the window and let a worker join its threads."""
        self._detach()
        self.session = None
        emit(self.sessionChanged)
        self._stopping.append(session)

        def finish() -> LiveStats | None:
            session.stop(timeout=5.0)
            session.wait(timeout=5.0)
            try:
                return session.stats()
            except Exception:  # stats after stop are a courtesy
                return None

        started = self._tasks.submit(finish, on_done=lambda stats: self._stopped(session, stats),
                                     on_error=lambda error: self._stopped(session, None, error))
        if not started:  # the pool is closing (window shutting down): stop here
            finish()
            self._stopped(session, None)

    def _stopped(self, session: LiveSessionLike, stats: LiveStats | None,
                 error: BaseException | None = None) -> None:
        if session in self._stopping:
            self._stopping.remove(session)
        if self.session is not None:
            return  # a new session was started meanwhile; this one's end is old news
        self._timer.stop()
        if stats is not None:
            self.last_stats = stats
            emit(self.statsChanged, stats)
        if error is not None:
            self._set_state(SessionState.FAILED, f"could not stop cleanly: {error}")
        elif stats is not None and stats.state is SessionState.FAILED:
            self._set_state(SessionState.FAILED, stats.message)
        else:
            self._set_state(SessionState.STOPPED, "stopped")

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception:
                log.debug("preview unsubscribe failed", exc_info=True)
            self._unsubscribe = None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop everything and wait (window closing: the only place the GUI thread blocks)."""
        self._timer.stop()
        session = self.session
        if session is not None:
            self._detach()
            self.session = None
            emit(self.sessionChanged)
            session.stop(timeout=timeout)
            session.wait(timeout=timeout)
        self._tasks.wait(int(timeout * 1000))  # sessions already stopping

    # ---- observing ------------------------------------------------------------------------------
    def poll(self) -> None:
        session = self.session
        if session is None:
            return
        try:
            stats = session.stats()
        except Exception as error:
            log.warning("live stats failed: %s", error)
            return
        self.last_stats = stats
        emit(self.statsChanged, stats)
        if stats.state is not self.state or stats.state is SessionState.FAILED:
            self._set_state(stats.state, stats.message)
        if stats.state in FINAL:
            # Ended by itself (duration reached, camera gone for good, failed to start): join it.
            self._release(session)

    def _set_state(self, state: SessionState, message: str) -> None:
        self.state = state
        emit(self.stateChanged, state.value, message)

    # ---- controls (each takes effect within a frame or two; all are thread-safe calls) ------------
    def _control(self, name: str, *args: object) -> None:
        session = self.session
        if session is None:
            return
        try:
            getattr(session, name)(*args)
        except Exception as error:
            log.warning("live control %s failed: %s", name, error)
            emit(self.errorRaised, f"{name}: {error}")

    def set_bypass(self, on: bool) -> None:
        self._control("set_bypass", on)

    def set_mirror(self, on: bool) -> None:
        self._control("set_mirror", on)

    def set_enhance(self, on: bool) -> None:
        self._control("set_enhance", on)

    def set_face_mode(self, mode: str) -> None:
        self._control("set_face_mode", mode)

    def set_active_source(self, index: int) -> None:
        self._control("set_active_source", index)

    def set_sources(self, identities: tuple[tuple[Path, ...], ...]) -> None:
        self._control("set_sources", identities)

    def set_references(self, photos: tuple[Path, ...]) -> None:
        self._control("set_references", photos)

    def set_position(self, index: int) -> None:
        self._control("set_position", index)

    def set_mouth_mask(self, on: bool) -> None:
        self._control("set_mouth_mask", on)

    def set_enhance_blend(self, amount: float) -> None:
        self._control("set_enhance_blend", amount)

    def set_virtual_cam(self, on: bool) -> None:
        self._control("set_virtual_cam", on)

    def set_recording(self, path: Path | None) -> None:
        self._control("set_recording", path)

    def set_stream(self, url: str | None) -> None:
        self._control("set_stream", url)
