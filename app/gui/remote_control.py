"""The studio's "Allow remote control": the task API of `swapcast serve`, run inside the window's process.

It shares the window's job store and event bus, so a job posted over HTTP shows in the Jobs tab at once
and the window's workers run it (the server runs no workers of its own here). uvicorn runs on its own
thread (app.server.runner.start_in_thread); this object only starts and stops it and says where it is.

The live session the window runs is the one the API drives: `follow_live` attaches it to the server's
LiveHost. A request that changes it runs on a server thread and calls back here; this object only emits
a signal then (`liveChanged`, `liveStopRequested`), which Qt queues to the GUI thread, where the window
updates its widgets — no widget is touched from the server's threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.jobs import EventBus, JobStore
from engines.errors import SwapCastError

from .qt_compat import emit
from .settings import Preferences

if TYPE_CHECKING:
    from app.server.runner import ServerHandle

    from .live_controller import LiveSessionLike

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


@dataclass(frozen=True)
class FollowedSession:
    """The window's live session and the names of its identities (the gallery's, in the session's order)."""

    session: LiveSessionLike
    names: tuple[str, ...]
    groups: tuple[tuple[Path, ...], ...]


class RemoteControl(QObject):
    addressChanged = Signal(str)  # the URL served, "" when off
    errorRaised = Signal(str)  # one line: why it could not start (busy port, ...)
    tokenCreated = Signal(str)  # the first admin token, to show once
    liveChanged = Signal(object)  # the window's session's new control state (a dict), changed over the API
    liveStopRequested = Signal()  # POST /api/live/stop on the window's session

    def __init__(self, store: JobStore, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._bus = bus
        self._handle: ServerHandle | None = None
        self._wanted: tuple[int, bool] | None = None  # (port, all interfaces) it runs with
        self._live: FollowedSession | None = None

    @property
    def url(self) -> str:
        return self._handle.url if self._handle is not None else ""

    def apply(self, prefs: Preferences) -> None:
        """Start, stop or restart the server as the preferences say."""
        wanted = (prefs.remote_port, prefs.remote_all_interfaces) if prefs.remote_control else None
        if wanted == self._wanted:  # set only while a server runs with those settings
            return
        self.stop()
        if wanted is not None:
            self._start(*wanted)

    def _start(self, port: int, all_interfaces: bool) -> None:
        # Imported here: the web framework loads only when someone turns remote control on.
        from app.server.runner import ServeOptions, start_in_thread

        options = ServeOptions(host=ALL_INTERFACES if all_interfaces else LOOPBACK, port=port, workers=0,
                               allow_remote=all_interfaces)
        try:
            handle = start_in_thread(options, store=self._store, bus=self._bus)
        except SwapCastError as error:
            emit(self.errorRaised, f"remote control is off: {error.one_line()}")
            return
        self._handle, self._wanted = handle, (port, all_interfaces)
        self._attach()
        token = handle.context.tokens.ensure_admin()
        emit(self.addressChanged, handle.url)
        if token:
            emit(self.tokenCreated, token)

    def stop(self) -> None:
        handle, self._handle, self._wanted = self._handle, None, None
        if handle is not None:
            handle.context.live.detach()  # first: the server's shutdown must not stop the window's session
            handle.stop()
            emit(self.addressChanged, "")

    # ---- the window's live session ------------------------------------------------------------------
    def follow_live(self, session: LiveSessionLike | None, names: tuple[str, ...] = (),
                    groups: tuple[tuple[Path, ...], ...] = ()) -> None:
        """The window started `session` (None: it has none any more): the API reads and drives it."""
        self._live = FollowedSession(session, names, groups) if session is not None else None
        self._attach()

    def update_live_sources(self, names: tuple[str, ...], groups: tuple[tuple[Path, ...], ...]) -> None:
        """The window gave its session new identities (the gallery changed while live)."""
        if self._live is not None:
            self._live = FollowedSession(self._live.session, names, groups)
            if self._handle is not None:
                self._handle.context.live.update_sources(names, groups)

    def _attach(self) -> None:
        if self._handle is None:
            return
        from app.server.live_host import Owner

        host = self._handle.context.live
        live = self._live
        if live is None:
            host.detach()
            return
        owner = Owner(on_change=self._changed_remotely, on_stop=self._stop_remotely)
        host.attach(live.session, live.names, live.groups, owner)  # type: ignore[arg-type]  # a LiveSession

    # Called on a server thread: only signals, which Qt queues to the GUI thread.
    def _changed_remotely(self, controls: dict[str, Any]) -> None:
        emit(self.liveChanged, controls)

    def _stop_remotely(self) -> None:
        emit(self.liveStopRequested)
