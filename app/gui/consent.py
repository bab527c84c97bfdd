"""The responsible-use notice: accepted once before the studio can be used.

The window stays disabled until the notice is accepted; declining closes the studio. Acceptance is
stored in the settings (StudioSettings.accept_consent), so tests pre-accept through the same key.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app.consent import notice_html

from .qt_compat import emit

NOTICE = notice_html()  # one text for the studio and the CLI (app/consent.py)


class ConsentDialog(QDialog):
    accepted_notice = Signal()
    declined_notice = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SwapCast — responsible use")
        self.setModal(True)
        self.setObjectName("consentDialog")
        text = QLabel(NOTICE, self)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.agree = QCheckBox("I have read this and will use SwapCast responsibly", self)
        self.buttons = QDialogButtonBox(self)
        self.accept_button = self.buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = self.buttons.addButton("Quit", QDialogButtonBox.ButtonRole.RejectRole)
        self.accept_button.setEnabled(False)  # a deliberate tick first, not a reflexive Enter
        self.agree.toggled.connect(self.accept_button.setEnabled)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.agree)
        layout.addWidget(self.buttons)
        self.resize(560, 360)

    def accept(self) -> None:
        if not self.agree.isChecked():
            return
        super().accept()
        emit(self.accepted_notice)

    def reject(self) -> None:
        super().reject()
        emit(self.declined_notice)
