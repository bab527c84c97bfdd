"""Similarity transforms from detected keypoints to a template, and the crops they give.

A closed-form least-squares similarity (rotation, uniform scale, translation) costs microseconds;
skimage's general estimator, which insightface calls, costs far more per face.
"""

from __future__ import annotations

import cv2
import numpy as np


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 matrix M with M·[src,1] ≈ dst in the least-squares sense (no reflection)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    s = src - src_mean
    d = dst - dst_mean
    norm = float((s * s).sum())
    if norm <= 1e-12:
        raise ValueError("degenerate keypoints: all five points coincide")
    a = float((s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    tx = dst_mean[0] - (a * src_mean[0] - b * src_mean[1])
    ty = dst_mean[1] - (b * src_mean[0] + a * src_mean[1])
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(matrix)


def crop(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp only the size×size output: the cost does not grow with the frame."""
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]
