"""Benchmark frames: the kit's synthetic faces on a busy background, at standard sizes."""

from __future__ import annotations

import numpy as np

from engines.testing.synthetic_face import IDENTITIES, busy_background, draw_face, plain_background

SIZES: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


def benchmark_frame(size: tuple[int, int], faces: int, seed: int = 0) -> np.ndarray:
    """`faces` faces side by side, each about a third of the frame's height (a webcam close-up)."""
    width, height = size
    frame = busy_background(width, height, seed)
    face_height = min(height * 0.36, width / (faces + 0.5) / 0.8 * 0.7)
    for i in range(faces):
        x = width * (i + 1) / (faces + 1)
        draw_face(frame, (x, height * 0.5), face_height, IDENTITIES[(i + 2) % len(IDENTITIES)])
    return frame


def source_face_image() -> np.ndarray:
    """A plain portrait of one identity that no benchmark frame shows."""
    image = plain_background(512, 512)
    draw_face(image, (256, 256), 300, IDENTITIES[1])
    return image
