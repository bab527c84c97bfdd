"""The face picker: a photo with several faces, each boxed and numbered; the user picks the one to swap in."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .engine_service import FoundFace
from .style import OK


class FacePickerDialog(QDialog):
    """Shows a photo with its faces numbered; the user picks one."""

    def __init__(self, photo: Path, faces: list[FoundFace], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Which face? — {photo.name}")
        self.setObjectName("facePicker")
        self.photo = photo
        self.faces = faces
        self.chosen: int | None = None
        image = QImage(str(photo))
        scale = min(1.0, 720 / max(1, image.width()), 480 / max(1, image.height()))
        shown = image.scaled(int(image.width() * scale), int(image.height() * scale),
                             Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        canvas = QPixmap.fromImage(shown)
        painter = QPainter(canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSize(14)
        font.setBold(True)
        painter.setFont(font)
        for i, face in enumerate(faces):
            x1, y1, x2, y2 = (v * scale for v in face.box)
            painter.setPen(QPen(QColor(OK), 3))
            painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
            painter.fillRect(QRectF(x1, y1 - 26, 30, 26), QColor(OK))
            painter.setPen(QColor("white"))
            painter.drawText(QPointF(x1 + 8, y1 - 6), str(i + 1))
        painter.end()
        picture = QLabel(self)
        picture.setPixmap(canvas)
        buttons = QHBoxLayout()
        self.face_buttons: list[QPushButton] = []
        for i in range(len(faces)):
            button = QPushButton(f"Face {i + 1}", self)
            button.clicked.connect(lambda _checked=False, index=i: self.choose(index))
            buttons.addWidget(button)
            self.face_buttons.append(button)
        cancel = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        cancel.rejected.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{photo.name} has {len(faces)} faces. Pick the one to swap in:", self))
        layout.addWidget(picture)
        layout.addLayout(buttons)

    def choose(self, index: int) -> None:
        self.chosen = index
        self.accept()
