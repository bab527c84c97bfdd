"""Starts the Qt application with the asyncio loop joined to it by qasync."""

from __future__ import annotations

import argparse
import asyncio
import sys

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from app import __version__


class StudioWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"SwapCast {__version__}")
        self.resize(1280, 800)
        self.setCentralWidget(QLabel("SwapCast studio", self))


def run_gui(args: argparse.Namespace) -> int:
    import qasync

    app = QApplication.instance() or QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = StudioWindow()
    window.show()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return 0
