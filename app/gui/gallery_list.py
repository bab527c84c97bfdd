"""The gallery's icon list: photo thumbnails (read on any thread), and photo files dropped onto it,
handed on with the face they were dropped on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QImageReader
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QWidget

from engines.imaging import IMAGE_SUFFIXES

from .qt_compat import emit

THUMB = 112


def load_thumbnail(path: Path, size: int = THUMB) -> QImage:
    """A small, square-fitted QImage of a photo; safe on any thread (QImage, not QPixmap)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        image = QImage(size, size, QImage.Format.Format_RGB32)
        image.fill(QColor(60, 60, 60))
    return image


class GalleryList(QListWidget):
    """The icon list (a grid of thumbnails); files dropped on it are handed to the panel with the item
    under the cursor."""

    filesDropped = Signal(list, int)  # paths, identity index (-1: new identities)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 28, THUMB + 44))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWordWrap(True)
        self.setSpacing(4)

    @staticmethod
    def _files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()) for url in mime.urls()
                if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = self._files(event)
        if not files:
            event.ignore()
            return
        item = self.itemAt(event.position().toPoint())
        emit(self.filesDropped, files, self.row(item) if item is not None else -1)
        event.acceptProposedAction()

