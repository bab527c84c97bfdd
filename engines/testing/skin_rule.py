"""The colour rule that tells the kit's models which pixels are "skin".

Every palette skin satisfies it with a wide margin; every background the kit draws (blue at least as
strong as red) and every dark feature (eyes, nose, mouth) fails it. The detector uses the hard rule
(the midpoints below); the recognizer and swapper use a soft version that ramps between LO and HI, so
anti-aliased edges count partly.
"""

from __future__ import annotations

import numpy as np

# Grey levels (0..255). Soft membership ramps from LO to HI; the hard rule uses the midpoint.
RED_LO, RED_HI = 130.0, 150.0
RED_MINUS_BLUE_LO, RED_MINUS_BLUE_HI = 30.0, 50.0
RED_MIN = (RED_LO + RED_HI) / 2.0
RED_MINUS_BLUE_MIN = (RED_MINUS_BLUE_LO + RED_MINUS_BLUE_HI) / 2.0

# What a palette skin must satisfy (checked in tests): comfortably past HI.
PALETTE_RED_MIN = 165.0
PALETTE_RED_MINUS_BLUE_MIN = 65.0


def hard_skin_mask(bgr: np.ndarray) -> np.ndarray:
    """Boolean HxW mask of skin pixels in a BGR uint8 (or float 0..255) image."""
    img = bgr.astype(np.float32)
    red, blue = img[..., 2], img[..., 0]
    return (red > RED_MIN) & (red - blue > RED_MINUS_BLUE_MIN)


def soft_skin_mask(bgr: np.ndarray) -> np.ndarray:
    """HxW float mask in 0..1, the same ramps the recognizer and swapper graphs use."""
    img = bgr.astype(np.float32)
    red, blue = img[..., 2], img[..., 0]
    a = np.clip((red - RED_LO) / (RED_HI - RED_LO), 0.0, 1.0)
    b = np.clip((red - blue - RED_MINUS_BLUE_LO) / (RED_MINUS_BLUE_HI - RED_MINUS_BLUE_LO), 0.0, 1.0)
    return a * b


def is_background_colour(bgr: tuple[int, int, int]) -> bool:
    """Background colours never pass the rule: blue at least as strong as red."""
    return bgr[0] >= bgr[2]
