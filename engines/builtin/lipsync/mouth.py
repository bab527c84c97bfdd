"""Where the mouth is: the 96-px crop Wav2Lip sees, the feathered region blended back, and the
smoothing of that box across the frames of one stream (so the pasted mouth does not jitter)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..align.templates import ARCFACE_112
from ..detect.faces import DetectedFace
from ..detect.smoothing import KeypointSmoother
from ..paste.masks import BlendMask, soft_ellipse

CROP_SIZE = 96
# Wav2Lip was trained on face-detector boxes: forehead to chin filling the square. The ArcFace
# layout scaled to 96 px and pulled in by 12 % leaves the chin inside the crop when the jaw opens.
_FILL = 0.88
CROP_TEMPLATE = ((ARCFACE_112 - 56.0) * (CROP_SIZE / 112.0 * _FILL) + (CROP_SIZE / 2.0, CROP_SIZE * 0.46)).astype(
    np.float32)
NOMINAL_FPS = 30.0  # the smoothing's clock when the caller gives no frame times


@lru_cache(maxsize=8)
def mouth_blend_mask(size: int = CROP_SIZE) -> BlendMask:
    """The lower face around the mouth (below the nose, above the chin), feathered like the swap's
    mouth mask: what the model redraws and what gets blended back."""
    scale = size / CROP_SIZE
    nose, left, right = CROP_TEMPLATE[2] * scale, CROP_TEMPLATE[3] * scale, CROP_TEMPLATE[4] * scale
    top = float(nose[1]) + 0.02 * size
    bottom = 0.9 * size  # the chin, which moves with the jaw; the background below stays
    half_width = 0.85 * float(np.linalg.norm(right - left))
    center = ((float(left[0]) + float(right[0])) / 2.0, (top + bottom) / 2.0)
    alpha = soft_ellipse(size, center, (half_width, (bottom - top) / 2.0))
    return BlendMask.of(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8))


def smoothed_kps(faces: Sequence[DetectedFace], state: dict | None) -> list[np.ndarray]:
    """Each face's keypoints, smoothed over the stream `state` belongs to (One Euro per face track);
    the faces themselves are left as they are (the swap used them)."""
    if state is None:
        return [face.kps for face in faces]
    smoother = state.setdefault("mouth_smoother", KeypointSmoother())
    frame_number = int(state.get("frame_number", 0))
    state["frame_number"] = frame_number + 1
    t = state["t"] if isinstance(state.get("t"), float) else frame_number / NOMINAL_FPS
    copies = [dataclasses.replace(face, kps=face.kps.copy()) for face in faces]
    smoother.smooth(copies, t)  # type: ignore[union-attr]
    return [copy.kps for copy in copies]
