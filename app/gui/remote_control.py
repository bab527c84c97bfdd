"""The studio's "Allow remote control": the task API of `swapcast serve`, run inside the window's process.

It shares the window's job store and event bus, so a job posted over HTTP shows in the Jobs tab at once
and the window's workers run it (the server runs no workers of its own here). uvicorn runs on its own
thread (app.server.runner.start_in_thread); this object only starts and stops it and says where it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.jobs import EventBus, JobStore
from engines.errors import SwapCastError

from .qt_compat import emit
from .settings import Preferences

if TYPE_CHECKING:
    from app.server.runner import ServerHandle

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


class RemoteControl(QObject):
    addressChanged = Signal(str)  # the URL served, "" when off
    errorRaised = Signal(str)  # one line: why it could not start (busy port, ...)
    tokenCreated = Signal(str)  # the first admin token, to show once

    def __init__(self, store: JobStore, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._bus = bus
        self._handle: ServerHandle | None = None
        self._wanted: tuple[int, bool] | None = None  # (port, all interfaces) it runs with

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
        token = handle.context.tokens.ensure_admin()
        emit(self.addressChanged, handle.url)
        if token:
            emit(self.tokenCreated, token)

    def stop(self) -> None:
        handle, self._handle, self._wanted = self._handle, None, None
        if handle is not None:
            handle.stop()
            emit(self.addressChanged, "")
