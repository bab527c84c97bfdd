"""Starts the Qt application with the asyncio loop joined to it by qasync."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from app.models_option import models_override

from .main_window import StudioWindow
from .settings import StudioSettings

log = logging.getLogger(__name__)


def forget_opencv_qt_paths() -> None:
    """opencv-python ships its own Qt and, when imported, points Qt's plugin and font paths at it.
    PySide6's Qt then finds cv2's xcb plugin first, cannot load it, and aborts: the studio would not
    open on an X11 desktop. Those paths are never meant for PySide6; forget them before Qt starts."""
    marker = f"{os.sep}cv2{os.sep}"
    for key in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if marker in os.environ.get(key, ""):
            del os.environ[key]


def make_app() -> QApplication:
    forget_opencv_qt_paths()
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv)
    app.setApplicationName("SwapCast")
    app.setOrganizationName("SwapCast")
    return app  # type: ignore[return-value]


def open_studio(models: Path | None, settings: StudioSettings | None = None) -> StudioWindow:
    """The window, shown, with its background work started (and the consent asked on first use)."""
    window = StudioWindow(settings or StudioSettings(), models)
    window.show()
    window.start()
    return window


EXIT_INTERRUPTED = 130  # the shell's code for a program ended by Ctrl-C


@contextmanager
def close_on_interrupt(app: QApplication) -> Iterator[list[int]]:
    """Ctrl-C (SIGINT) closes the windows through the Qt loop, as their close buttons do.

    Python runs a signal handler only between bytecodes, and Qt's loop runs C++ for as long as no
    Python slot is called, so the signal also writes a byte to a socket Qt watches (set_wakeup_fd):
    the loop wakes at once and the handler runs. The default handler would raise KeyboardInterrupt
    inside whatever slot happened to run, which Qt prints and then carries on. Yields a list that
    holds the signal's number once one came.
    """
    received: list[int] = []
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            reader.recv(64)  # the byte only woke the loop; the Python handler has run by now
        except OSError:
            pass

    def interrupted(number: int, _frame: object) -> None:
        if not received:
            received.append(number)
            QTimer.singleShot(0, app.closeAllWindows)

    notifier.activated.connect(drain)
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.set_wakeup_fd(previous_fd)
        notifier.setEnabled(False)
        reader.close()
        writer.close()


def run_gui(args: argparse.Namespace) -> int:
    import qasync

    app = make_app()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with close_on_interrupt(app) as interrupted:
        window = open_studio(models_override(args))
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        app.lastWindowClosed.connect(closed.set)
        try:
            with loop:
                loop.run_until_complete(closed.wait())
        finally:
            asyncio.set_event_loop(None)  # the loop is closed; leave no stale loop behind
        window.shutdown()  # idempotent: closeEvent normally did it already
    if interrupted:
        return EXIT_INTERRUPTED
    # Declining the responsible-use notice is not a success.
    return 0 if window.settings.consent_accepted else 1
