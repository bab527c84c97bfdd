"""What an avatar session animates: a still photo (the same picture every frame) or an idle loop (a
short video played over and over). Frames come out at the session's rate, BGR, even-sized."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import numpy as np

from app.media.reader import VideoReader
from app.media.sniff import MediaKind
from engines.errors import InputError
from engines.imaging import read_image

Frame = np.ndarray


class SourceKind(str, Enum):
    PHOTO = "photo"
    LOOP = "loop"


class AvatarSource:
    """`next_frame()` each frame; `close()` frees the loop's decoder. One caller at a time."""

    def __init__(self, path: Path, kind: SourceKind, fps: int) -> None:
        self.path = path
        self.kind = kind
        self.fps = fps
        self._photo: Frame | None = None
        self._frames: Iterator[Frame] | None = None
        self._reader: VideoReader | None = None
        if kind is SourceKind.PHOTO:
            self._photo = _even(read_image(path))
            self.first = self._photo
        else:
            self.first = self.next_frame()
        self.height, self.width = self.first.shape[:2]

    def next_frame(self) -> Frame:
        if self._photo is not None:
            return self._photo
        for _attempt in range(2):  # at the loop's end: once more from its start
            if self._frames is None:
                self._reader = VideoReader(self.path)
                self._frames = (_even(decoded.image) for decoded in self._reader)
            frame = next(self._frames, None)
            if frame is not None:
                return frame
            self._frames = None
        raise InputError(f"{self.path.name}: the loop has no frames", "send a video with at least one frame")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._frames = None


def _even(frame: Frame) -> Frame:
    """yuv420p needs even sizes: drop a last odd row/column (a view, no copy)."""
    height, width = frame.shape[:2]
    return frame[: height - height % 2, : width - width % 2]


def source_kind(media: MediaKind) -> SourceKind:
    return SourceKind.PHOTO if media is MediaKind.IMAGE else SourceKind.LOOP


def loop_fps(path: Path, default: int) -> int:
    """The loop's own frame rate, whole (a loop plays at its speed)."""
    from app.media.probe import probe

    info = probe(path)
    return max(1, min(60, round(info.fps))) if info.fps else default
