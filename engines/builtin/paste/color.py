"""Colour correction: move the swapped face's colour toward the target's, inside the mask."""

from __future__ import annotations

import numpy as np


def match_mean_color(swapped: np.ndarray, target: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
    """Shift the swapped crop's mean colour (weighted by alpha) toward the target crop's."""
    if strength <= 0:
        return swapped
    weights = alpha.astype(np.float32)[..., None] / 255.0
    total = float(weights.sum()) or 1.0
    swapped_mean = (swapped.astype(np.float32) * weights).sum(axis=(0, 1)) / total
    target_mean = (target.astype(np.float32) * weights).sum(axis=(0, 1)) / total
    shift = (target_mean - swapped_mean) * float(min(strength, 1.0))
    return np.clip(swapped.astype(np.float32) + shift, 0, 255).astype(np.uint8)
