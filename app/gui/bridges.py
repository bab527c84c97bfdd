"""Thin adapters that turn worker-thread callbacks into queued Qt signals.

Workers never touch widgets (VisoMaster's mistake): they call these adapters, which only store
the newest value under a lock and wake the GUI thread once. The GUI thread then takes whatever is
newest; anything that arrived in between was never going to be painted, so it is dropped.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from .qt_compat import emit


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """A QImage that owns a copy of a BGR uint8 frame (the pipeline may reuse its buffer later)."""
    height, width = frame.shape[:2]
    if not frame.flags["C_CONTIGUOUS"]:
        frame = np.ascontiguousarray(frame)
    image = QImage(frame.data, width, height, int(frame.strides[0]), QImage.Format.Format_BGR888)
    return image.copy()  # detach from the numpy buffer before it goes away


def qimage_to_bgr(image: QImage) -> np.ndarray:
    """The inverse, for tests and screenshots: an H×W×3 BGR uint8 array."""
    converted = image.convertToFormat(QImage.Format.Format_BGR888)
    width, height = converted.width(), converted.height()
    data = np.frombuffer(converted.constBits(), np.uint8, count=converted.sizeInBytes())
    rows = data.reshape(height, converted.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


class PreviewBridge(QObject):
    """The live session's preview listener. `listener` runs on a pipeline thread and never blocks;
    `frameReady` is emitted on the GUI thread with a QImage of the newest frame."""

    frameReady = Signal(QImage, float)  # image, capture timestamp
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._newest: tuple[np.ndarray, float] | None = None
        self._pending = False
        self.received = 0  # frames the pipeline offered
        self.painted = 0  # frames converted for the screen; received - painted were dropped here
        self._wake.connect(self._deliver)  # queued: emitted from pipeline threads, slot on ours

    def listener(self, frame: np.ndarray, captured_at: float) -> None:
        """PreviewListener: called on a pipeline thread for every processed frame."""
        with self._lock:
            self._newest = (frame, captured_at)
            self.received += 1
            if self._pending:
                return  # the GUI has not taken the previous one yet; it will take this one instead
            self._pending = True
        emit(self._wake)

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            newest, self._newest = self._newest, None
            self._pending = False
        if newest is None:
            return
        frame, captured_at = newest
        self.painted += 1
        emit(self.frameReady, bgr_to_qimage(frame), captured_at)

    @property
    def dropped(self) -> int:
        return self.received - self.painted


class EventPump(QObject):
    """Wakes the GUI thread when a worker has news, at most once per GUI turn.

    `notify()` may be called from any thread, as often as wanted (e.g. as an EventBus `on_ready`);
    `ready` is emitted on the GUI thread, and the receiver drains whatever queue it watches.
    """

    ready = Signal()
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending = False
        self.last_notified = 0.0
        self._wake.connect(self._deliver)

    def notify(self) -> None:
        with self._lock:
            self.last_notified = time.monotonic()
            if self._pending:
                return
            self._pending = True
        emit(self._wake)

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            self._pending = False
        emit(self.ready)
