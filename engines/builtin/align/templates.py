"""Where the 5 face keypoints (eyes, nose, mouth corners) sit in each model's input crop.

The ArcFace template is the field's standard 112-px layout; inswapper uses it at 128 px shifted
8 px right (insightface's convention), GFPGAN the FFHQ 512-px layout.
"""

from __future__ import annotations

import numpy as np

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

# FFHQ alignment for 512-px restoration models, as fractions of the crop side.
FFHQ_UNIT = np.array(
    [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
     [0.39308822, 0.72541100], [0.61150205, 0.72490465]],
    dtype=np.float32,
)


def arcface_template(size: int) -> np.ndarray:
    """insightface's rule: multiples of 112 scale the template; multiples of 128 also shift it."""
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112.0)
    if size % 128 == 0:
        ratio = size / 128.0
        template = ARCFACE_112 * ratio
        template[:, 0] += 8.0 * ratio
        return template
    raise ValueError(f"no ArcFace template for a {size}-px crop (must be a multiple of 112 or 128)")


def ffhq_template(size: int) -> np.ndarray:
    return FFHQ_UNIT * float(size)
