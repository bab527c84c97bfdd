"""Starts the Qt application with the asyncio loop joined to it by qasync."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.models_option import models_override

from .main_window import StudioWindow
from .settings import StudioSettings

log = logging.getLogger(__name__)


def make_app() -> QApplication:
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


def run_gui(args: argparse.Namespace) -> int:
    import qasync

    app = make_app()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
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
    # Declining the responsible-use notice is not a success.
    return 0 if window.settings.consent_accepted else 1
