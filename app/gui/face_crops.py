"""Turning "face 2 of this group photo" into a photo of that one face.

The live pipeline takes source *photos* (LiveConfig.identities) and uses each photo's largest face.
So when a user picks one face of a photo with several, the studio writes a new photo that holds
only that face: a generous crop around it with any other face inside the crop greyed out. The
engine then finds exactly the face the user picked, with no extra option through the pipeline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.imaging import read_image, write_image_atomic

Box = tuple[float, float, float, float]

MARGIN = 0.6  # of the face's size, added on every side: the detector needs context around a face


def crop_box(box: Box, width: int, height: int, margin: float = MARGIN) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    pad_x, pad_y = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y)),
            min(width, int(np.ceil(x2 + pad_x))), min(height, int(np.ceil(y2 + pad_y))))


def isolate_face(image: np.ndarray, boxes: Sequence[Box], index: int) -> np.ndarray:
    """A crop of `image` around face `index` where every other face is painted over in grey."""
    height, width = image.shape[:2]
    cx1, cy1, cx2, cy2 = crop_box(boxes[index], width, height)
    out = image[cy1:cy2, cx1:cx2].copy()
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if i == index:
            continue
        # In crop coordinates, clipped; grey carries no face for any detector.
        ox1, oy1 = max(0, int(x1) - cx1), max(0, int(y1) - cy1)
        ox2, oy2 = min(out.shape[1], int(np.ceil(x2)) - cx1), min(out.shape[0], int(np.ceil(y2)) - cy1)
        if ox2 > ox1 and oy2 > oy1:
            out[oy1:oy2, ox1:ox2] = 128
    return out


def save_face_crop(photo: Path, boxes: Sequence[Box], index: int, folder: Path) -> Path:
    """Write the isolated face as a PNG in `folder` (named after the photo, its content and the face)."""
    image = read_image(photo)
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{photo.stem}-{digest}-face{index + 1}.png"
    if not path.exists():
        write_image_atomic(path, isolate_face(image, boxes, index))
    return path
