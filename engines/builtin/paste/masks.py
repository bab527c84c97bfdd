"""Blend masks in crop coordinates, computed once per size and option set."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..align.templates import arcface_template


@lru_cache(maxsize=32)
def feathered_box(size: int, padding: float = 0.06, feather: float = 0.08) -> np.ndarray:
    """A box over the crop with soft edges: 1 inside, fading to 0 at the crop border."""
    mask = np.zeros((size, size), np.float32)
    pad = max(1, int(round(size * padding)))
    blur = max(1, int(round(size * feather)))
    mask[pad + blur:size - pad - blur, pad + blur:size - pad - blur] = 1.0
    k = 2 * blur + 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    mask.setflags(write=False)
    return mask


@lru_cache(maxsize=32)
def mouth_region(size: int) -> np.ndarray:
    """Soft ellipse over the target's mouth (from the template's mouth corners), to keep it."""
    template = arcface_template(size)
    left, right = template[3], template[4]
    center = (left + right) / 2.0
    half_width = float(np.linalg.norm(right - left)) * 0.75
    return soft_ellipse(size, (float(center[0]), float(center[1] + size * 0.02)), (half_width, half_width * 0.55))


def soft_ellipse(size: int, center: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """A filled ellipse over a size×size crop (1 inside), its edge feathered over ~size/16 px; read-only."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (int(round(center[0])), int(round(center[1]))),
                (int(round(axes[0])), int(round(axes[1]))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    k = 2 * max(1, size // 32) + 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    mask.setflags(write=False)
    return mask


@dataclass(frozen=True)
class BlendMask:
    alpha: np.ndarray  # uint8 0..255, travels through the warp with the crop as a 4th channel
    support: tuple[int, int, int, int]  # x0, y0, x1, y1 of the crop where alpha > 0
    weight: np.ndarray  # float32 alpha/255, for cv2.blendLinear at crop size
    inverse_weight: np.ndarray  # 1 - weight

    @classmethod
    def of(cls, alpha: np.ndarray) -> "BlendMask":
        rows = np.flatnonzero(alpha.max(axis=1))
        cols = np.flatnonzero(alpha.max(axis=0))
        box = (0, 0, 0, 0) if rows.size == 0 else (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        alpha.setflags(write=False)
        weight = alpha.astype(np.float32) * np.float32(1 / 255)
        return cls(alpha, box, weight, 1.0 - weight)

    def scaled(self, amount: float) -> "BlendMask":
        return BlendMask.of((self.alpha.astype(np.float32) * amount).astype(np.uint8))


@lru_cache(maxsize=32)
def blend_mask(size: int, keep_mouth: bool) -> BlendMask:
    mask = feathered_box(size)
    if keep_mouth:
        mask = mask * (1.0 - mouth_region(size))
    return BlendMask.of(np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8))
