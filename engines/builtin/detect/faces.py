"""A face found in a frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DetectedFace:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in frame pixels
    kps: np.ndarray  # (5, 2) eyes, nose, mouth corners
    score: float
    embedding: np.ndarray | None = field(default=None, repr=False)  # filled only when selection needs it

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    @property
    def center_x(self) -> float:
        return float(self.box[0] + self.box[2]) / 2.0
