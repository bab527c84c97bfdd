"""Avatar mode: a photo (or an idle loop video) stands in for the camera, and the audio input moves
its mouth. No camera is opened; the frames are paced like a camera's so every output, the stats and
the lip sync's clock work exactly as they do live."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engines.errors import InputError

from .capture import CaptureError, FrameSource, SourceInfo, VideoFileSource
from .frame import now


class StillSource:
    """One photo delivered `fps` times a second; each read is a fresh copy, because the engine pastes
    into the frames it is handed."""

    def __init__(self, path: Path, fps: float) -> None:
        from engines.imaging import read_image

        self.path = Path(path)
        self.name = self.path.name
        self.fps = fps if fps > 0 else 30.0
        self.last_work_ms = 0.0
        image = read_image(self.path)  # one-line InputError for a missing or unreadable photo
        # yuv420p outputs and virtual cameras need even sizes: trim a stray last row/column once.
        self._image = np.ascontiguousarray(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])
        self._next: float | None = None

    def open(self) -> SourceInfo:
        self._next = now()
        height, width = self._image.shape[:2]
        return SourceInfo(self.name, width, height, self.fps, is_file=True)

    def read(self) -> tuple[np.ndarray, float]:
        if self._next is None:
            raise CaptureError(f"{self.name} is not open")
        start = time.perf_counter()
        image = self._image.copy()
        self.last_work_ms = (time.perf_counter() - start) * 1000.0
        self._next += 1.0 / self.fps
        wait = self._next - now()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.25:  # a stalled machine: carry on from now rather than burst
            self._next = now()
        return image, now()

    def close(self) -> None:
        self._next = None


def open_avatar(path: Path, fps: float) -> FrameSource:
    """`--avatar`: a still photo, or a video played in a loop at its own rate (an idle loop)."""
    from app.media.probe import probe

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"avatar {path} not found", "give a photo or a short looping video of a face")
    info = probe(path)
    if info.kind == "image":
        return StillSource(path, fps)
    return VideoFileSource(path)
