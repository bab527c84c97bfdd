"""A one-line label that never pushes its window wider: text that does not fit ends in "…", and the
tooltip holds the details (by default the whole text)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from .style import output_colour


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__(parent)
        self.full_text = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.show_text(text)

    def show_text(self, text: str, details: str | None = None) -> None:
        self.full_text = text
        self.setToolTip(details if details is not None else text)
        self._elide()

    def show_status(self, state: str, text: str, details: str | None = None) -> None:
        """`text` in the colour of an output `state` ("ok", "unavailable", … ; "" for the default)."""
        self.show_text(text, details)
        colour = output_colour(state)
        self.setStyleSheet(f"color: {colour};" if colour else "")

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.full_text, self._mode, max(0, self.width())))

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()
