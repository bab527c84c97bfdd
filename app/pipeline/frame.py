"""The unit that travels through the live pipeline: one picture and when it was captured."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np


def now() -> float:
    """The pipeline's one clock (seconds). Monotonic, so latency maths never sees a wall-clock jump."""
    return time.monotonic()


@dataclass(frozen=True)
class LiveFrame:
    """A BGR uint8 frame with its capture time (`now()` when it arrived from the camera).

    Once handed to the outputs the image is shared by all of them: treat it as read-only.
    """

    image: np.ndarray
    captured_at: float
    index: int  # counts frames captured since the session started
    processed_at: float | None = None

    def processed(self, image: np.ndarray, at: float) -> LiveFrame:
        return replace(self, image=image, processed_at=at)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])
