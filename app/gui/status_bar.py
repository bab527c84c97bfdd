"""What the studio's status bar shows: the engine (loud when it fell back to the CPU), the live
session's state, the remote-control address (or why it is off) with its first admin token, and the
last live error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QStatusBar

from .elided_label import ElidedLabel
from .engine_service import EngineService, EngineState
from .messages import brief_text
from .style import DOWN

if TYPE_CHECKING:
    from engines.base import EngineHealth


class StudioStatus(QObject):
    """Fills the window's own status bar (QMainWindow.statusBar()) and keeps it current. Not a
    QStatusBar of its own: PySide's setStatusBar leaves a hidden default bar behind."""

    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.bar = bar
        self.engine_label = ElidedLabel("engine: not loaded", bar)
        self.session_label = QLabel("live: stopped", bar)
        bar.addWidget(self.engine_label, 1)
        self.remote_label = QLabel("", bar)
        self.remote_label.setObjectName("remoteAddress")
        self.remote_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.remote_label.hide()
        self.token_box: QMessageBox | None = None
        bar.addPermanentWidget(self.remote_label)
        bar.addPermanentWidget(self.session_label)

    def show_engine(self, state: str, message: str, engine: EngineService, health: EngineHealth | None) -> None:
        if state == EngineState.READY.value and health is not None:
            fallbacks = [m for m in health.models if m.fallback_reason]
            if fallbacks:
                # Loud on purpose: a silent fallback to the CPU is the peers' most reported problem.
                reasons = "; ".join(f"{m.role}: {m.fallback_reason}" for m in fallbacks)
                self.engine_label.show_text(
                    f"⚠ running on {fallbacks[0].provider.removesuffix('ExecutionProvider')} — {reasons}")
                self.engine_label.setStyleSheet(f"color: {DOWN}; font-weight: bold;")
            else:
                providers = health.provider_summary.replace("ExecutionProvider", "")
                self.engine_label.show_text(f"engine {engine.name} ready · {providers}")
                self.engine_label.setStyleSheet("")
        elif state == EngineState.FAILED.value:
            problem = engine.problem
            line = problem.line if problem is not None else message
            self.engine_label.show_text(f"engine could not load: {line}", message)
            self.engine_label.setStyleSheet(f"color: {DOWN};")
        else:
            self.engine_label.show_text(f"engine {state}: {message}")
            self.engine_label.setStyleSheet("")

    def show_session(self, state: str) -> None:
        self.session_label.setText(f"live: {state}")

    def show_live_error(self, text: str) -> None:
        # One line in the status bar; the whole text in its tooltip (and in the health panel).
        self.bar.showMessage(brief_text(text).line, 8000)
        self.bar.setToolTip(text)

    # ---- remote control -----------------------------------------------------------------------------
    def show_remote_address(self, url: str) -> None:
        self.remote_label.setText(f"remote control: {url}" if url else "")
        self.remote_label.setToolTip("The task API runs in the studio (docs/API.md); requests need a token "
                                     "(`swapcast tokens create`)." if url else "")
        self.remote_label.setVisible(bool(url))

    def show_remote_error(self, text: str) -> None:
        self.bar.showMessage(text, 15000)
        self.remote_label.setText("remote control: off")
        self.remote_label.setToolTip(text)  # why, e.g. the port is busy, and the fix
        self.remote_label.show()

    def show_first_token(self, token: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Remote control token",
                          "Remote control is on. Its admin token is shown only now — copy it somewhere safe "
                          "(more tokens: `swapcast tokens create --role viewer|operator|admin`):", parent=self.bar.window())
        box.setInformativeText(token)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.token_box = box
        box.finished.connect(lambda _r: setattr(self, "token_box", None))
        box.open()
