"""Temporal smoothing of keypoints (One Euro filter) so a swapped face does not jitter.

The One Euro filter smooths hard when the face is still and follows quickly when it moves, so
it removes jitter without adding lag on motion. Faces are matched to tracks by nearest centre.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from engines.base import SwapContext

from .faces import DetectedFace


@dataclass
class OneEuro:
    min_cutoff: float = 1.0  # Hz; lower = smoother when still
    beta: float = 0.05  # how fast the cutoff rises with speed
    d_cutoff: float = 1.0
    _x: np.ndarray | None = None
    _dx: np.ndarray | None = None
    _t: float | None = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        # Speed in pixels/s of the fastest point decides how much to trust the new sample.
        cutoff = self.min_cutoff + self.beta * float(np.abs(self._dx).max())
        a = self._alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x


@dataclass(eq=False)  # identity, not field equality: fields are numpy arrays
class _Track:
    center: np.ndarray
    filter: OneEuro
    last_seen: float


@dataclass
class KeypointSmoother:
    min_cutoff: float = 1.0
    beta: float = 0.05
    max_jump: float = 0.5  # a face moving more than half its width between frames is a new track
    forget_after: float = 1.0  # seconds
    _tracks: list[_Track] = field(default_factory=list)

    def smooth(self, faces: list[DetectedFace], t: float) -> None:
        """Replaces each face's kps by its filtered value, in place."""
        unused = list(self._tracks)
        for face in faces:
            center = face.kps.mean(axis=0)
            width = max(1.0, float(face.box[2] - face.box[0]))
            track = min(unused, key=lambda tr: float(np.linalg.norm(tr.center - center)), default=None)
            if track is None or np.linalg.norm(track.center - center) > self.max_jump * width:
                track = _Track(center, OneEuro(self.min_cutoff, self.beta), t)
                self._tracks.append(track)
            else:
                unused.remove(track)
            face.kps = track.filter(face.kps.astype(np.float64), t).astype(np.float32)
            track.center, track.last_seen = face.kps.mean(axis=0), t
        self._tracks = [tr for tr in self._tracks if t - tr.last_seen <= self.forget_after]


def frame_clock(context: SwapContext, i: int) -> float:
    """The time of frame `i` of a batch on the stream's smoothing clock: the video's own times when
    given (repeatable runs), else the capture time, else the wall clock (live)."""
    if context.frame_times is not None:
        return float(context.frame_times[i])
    now = context.timestamp if context.timestamp is not None else time.monotonic()
    return now + i * 1e-3
