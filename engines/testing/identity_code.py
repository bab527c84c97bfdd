"""How the kit turns a skin colour into a 512-d embedding and back.

The recognizer encodes the mean skin colour f (RGB, 0..255) of an aligned face as radial-basis
activations over a fixed 8x8x8 grid of colour centres: e_i = exp(-|f - c_i|^2 / (2 tau^2)),
L2-normalised. The swapper decodes a colour from an embedding as the activation-weighted mean of the
centres. Both graphs bake in the constants defined here, and tests use the numpy versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.testing import synthetic_face as sf

EMBEDDING_SIZE = 512
GRID_LEVELS = np.linspace(-30.0, 285.0, 8)  # past 0..255 on both sides so edge colours decode unbiased
TAU = 22.0  # grey levels


def colour_centres() -> np.ndarray:
    """The 512 RBF centres, RGB in grey levels, shape [512, 3]."""
    r, g, b = np.meshgrid(GRID_LEVELS, GRID_LEVELS, GRID_LEVELS, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1).astype(np.float64)


def encode_colour(rgb: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """The normalised embedding of one RGB colour (grey levels); shape [512], float32."""
    f = np.asarray(rgb, dtype=np.float64).reshape(1, 3)
    d2 = ((colour_centres() - f) ** 2).sum(axis=1)
    e = np.exp(-d2 / (2.0 * TAU * TAU))
    return (e / np.linalg.norm(e)).astype(np.float32)


def decode_embedding(embedding: np.ndarray) -> np.ndarray:
    """The colour (RGB grey levels) an embedding stands for; shape [3]."""
    e = np.asarray(embedding, dtype=np.float64).ravel()
    return (e @ colour_centres()) / e.sum()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def template_placement(size: int) -> tuple[float, float]:
    """(scale, x shift) insightface applies to the 112 template for an aligned crop of `size` px."""
    if size % sf.TEMPLATE_SIZE == 0:
        return size / float(sf.TEMPLATE_SIZE), 0.0
    ratio = size / 128.0
    return ratio, 8.0 * ratio


@dataclass(frozen=True)
class FaceRegion:
    """The part of an aligned crop whose skin the recognizer and swapper measure: the face ellipse
    shrunk by `shrink`, so its anti-aliased rim and the background never count."""

    size: int
    shrink: float = 0.85

    def weights(self) -> np.ndarray:
        """[1, 1, size, size] float32 map, 1 inside the shrunken face ellipse, 0 outside."""
        scale, shift = template_placement(self.size)
        cx = sf.TEMPLATE_FACE_CENTER[0] * scale + shift
        cy = sf.TEMPLATE_FACE_CENTER[1] * scale
        ry = sf.TEMPLATE_FACE_HEIGHT / 2.0 * scale * self.shrink
        rx = ry * sf.FACE_WIDTH_RATIO
        yy, xx = np.mgrid[0:self.size, 0:self.size].astype(np.float64)
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        return inside.astype(np.float32).reshape(1, 1, self.size, self.size)


RECOGNIZER_REGION = FaceRegion(size=112)
SWAPPER_REGION = FaceRegion(size=128)
