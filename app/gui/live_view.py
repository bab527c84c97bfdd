"""The preview: paints the newest swapped frame, scaled to fit, with an fps / latency overlay."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


@dataclass(frozen=True)
class Overlay:
    """What is written over the preview."""

    fps: float = 0.0
    latency_ms: float = 0.0
    latency_p95_ms: float = 0.0
    bypass: bool = False
    note: str = ""  # e.g. "starting…", the failure

    def lines(self) -> list[str]:
        if not self.fps and self.note and not self.bypass:
            return [self.note]  # nothing measured yet: no row of zeros
        lines = [f"{self.fps:4.1f} fps · {self.latency_ms:.0f} ms (p95 {self.latency_p95_ms:.0f})"]
        if self.bypass:
            lines.append("BYPASS — swap off")
        if self.note:
            lines.append(self.note)
        return lines


class PreviewWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview")
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image: QImage | None = None
        self.captured_at = 0.0
        self.frames_shown = 0
        self.overlay = Overlay(note="not running")
        self.placeholder = "Pick a source face and a camera, then press Start"

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    @Slot(QImage, float)
    def show_frame(self, image: QImage, captured_at: float) -> None:
        self.image = image
        self.captured_at = captured_at
        self.frames_shown += 1
        self.update()  # Qt merges repaints: at most one paint per screen refresh

    def set_overlay(self, overlay: Overlay) -> None:
        if overlay != self.overlay:
            self.overlay = overlay
            self.update()

    def set_placeholder(self, text: str) -> None:
        """What the empty preview says (the next step, or why live cannot start)."""
        if text != self.placeholder:
            self.placeholder = text
            self.update()

    def clear(self) -> None:
        self.image = None
        self.update()

    def image_rect(self) -> QRect:
        """Where the frame is painted: as large as fits, aspect kept, centred."""
        if self.image is None or self.image.isNull():
            return QRect()
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 18, 22))
        if self.image is not None and not self.image.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(self.image_rect()), self.image)
        else:
            painter.setPen(QColor(150, 150, 160))
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
        self._paint_overlay(painter)
        painter.end()

    def _paint_overlay(self, painter: QPainter) -> None:
        lines = self.overlay.lines()
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        height = metrics.height() * len(lines) + 10
        width = max(metrics.horizontalAdvance(line) for line in lines) + 16
        box = QRect(10, 10, width, height)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        for i, line in enumerate(lines):
            colour = QColor(255, 200, 60) if line.startswith("BYPASS") else QColor(235, 235, 235)
            painter.setPen(colour)
            painter.drawText(box.left() + 8, box.top() + 5 + metrics.ascent() + i * metrics.height(), line)
