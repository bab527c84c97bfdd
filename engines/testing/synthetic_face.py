"""A synthetic face the kit's models understand, drawn into any BGR frame at any place and size.

The face is an upright ellipse of skin colour (width 0.8 x height) with two dark eyes, a dark nose
and a dark mouth. Its five keypoints sit in the same proportions as insightface's 112-px ArcFace
template, so the aligned crop insightface makes from them frames the face: in the 112 crop the face
is always centred at (56, 64) and 90 px tall. The identity is mostly the skin colour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from engines.testing import skin_rule

# insightface's 112x112 ArcFace template (left eye, right eye, nose, left/right mouth corner).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE_SIZE = 112
TEMPLATE_FACE_CENTER = (56.0, 64.0)
TEMPLATE_FACE_HEIGHT = 90.0
FACE_WIDTH_RATIO = 0.8

# Keypoints relative to the face centre, in units of the face height.
KEYPOINTS_REL = (ARCFACE_TEMPLATE - np.array(TEMPLATE_FACE_CENTER)) / TEMPLATE_FACE_HEIGHT
EYE_RADIUS_REL = 0.05
NOSE_AXES_REL = (0.04, 0.03)
MOUTH_HALF_HEIGHT_REL = 0.035
MOUTH_BGR = (40, 30, 120)
NOSE_SHADE = 0.45

_SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions in 1/16 px
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Identity:
    """One synthetic person: a skin colour (the identity proper) and an eye colour."""

    name: str
    skin_bgr: tuple[int, int, int]
    eye_bgr: tuple[int, int, int]

    @property
    def skin_rgb(self) -> tuple[int, int, int]:
        return (self.skin_bgr[2], self.skin_bgr[1], self.skin_bgr[0])


@dataclass(frozen=True)
class FaceTruth:
    """Where a drawn face is: its box (x1, y1, x2, y2) and 5 keypoints, in image pixels."""

    identity: str
    center: tuple[float, float]
    height: float
    box: tuple[float, float, float, float]
    kps: tuple[tuple[float, float], ...]

    def box_array(self) -> np.ndarray:
        return np.asarray(self.box, dtype=np.float32)

    def kps_array(self) -> np.ndarray:
        return np.asarray(self.kps, dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> FaceTruth:
        return FaceTruth(
            identity=str(data["identity"]),
            center=(float(data["center"][0]), float(data["center"][1])),
            height=float(data["height"]),
            box=tuple(float(v) for v in data["box"]),  # type: ignore[arg-type]
            kps=tuple((float(p[0]), float(p[1])) for p in data["kps"]),
        )


IDENTITIES: tuple[Identity, ...] = (
    Identity("amber", skin_bgr=(100, 170, 235), eye_bgr=(70, 40, 20)),
    Identity("rose", skin_bgr=(160, 140, 240), eye_bgr=(20, 60, 30)),
    Identity("olive", skin_bgr=(70, 185, 170), eye_bgr=(60, 30, 30)),
    Identity("cocoa", skin_bgr=(60, 105, 175), eye_bgr=(20, 30, 60)),
    Identity("peach", skin_bgr=(165, 205, 250), eye_bgr=(90, 50, 20)),
    Identity("coral", skin_bgr=(75, 100, 235), eye_bgr=(30, 30, 30)),
    Identity("lime", skin_bgr=(110, 235, 200), eye_bgr=(80, 20, 40)),
    Identity("plum", skin_bgr=(135, 75, 210), eye_bgr=(40, 60, 20)),
)


def identity_by_name(name: str) -> Identity:
    for identity in IDENTITIES:
        if identity.name == name:
            return identity
    raise KeyError(f"no synthetic identity named {name!r}; known: {[i.name for i in IDENTITIES]}")


def face_truth(center_xy: tuple[float, float], height: float, identity: str = "") -> FaceTruth:
    """The box and keypoints of a face of this size at this place (nothing is drawn)."""
    cx, cy = float(center_xy[0]), float(center_xy[1])
    h = float(height)
    half_w, half_h = FACE_WIDTH_RATIO * h / 2.0, h / 2.0
    kps = tuple((cx + dx * h, cy + dy * h) for dx, dy in KEYPOINTS_REL)
    return FaceTruth(identity=identity, center=(cx, cy), height=h,
                     box=(cx - half_w, cy - half_h, cx + half_w, cy + half_h), kps=kps)


def _fixed(value: float) -> int:
    return int(round(value * _ONE))


def _ellipse(frame: np.ndarray, center: tuple[float, float], axes: tuple[float, float], angle: float,
             colour: tuple[int, int, int]) -> None:
    cv2.ellipse(frame, (_fixed(center[0]), _fixed(center[1])),
                (max(_fixed(axes[0]), 1), max(_fixed(axes[1]), 1)),
                angle, 0, 360, tuple(int(c) for c in colour), -1, cv2.LINE_AA, _SHIFT)


def draw_face(frame: np.ndarray, center_xy: tuple[float, float], height: float,
              identity: Identity) -> FaceTruth:
    """Draws the face into `frame` (BGR uint8, in place) and returns where it is."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("draw_face needs a BGR uint8 frame")
    truth = face_truth(center_xy, height, identity.name)
    h = truth.height
    _ellipse(frame, truth.center, (FACE_WIDTH_RATIO * h / 2.0, h / 2.0), 0.0, identity.skin_bgr)
    kps = truth.kps_array().astype(np.float64)
    for eye in kps[:2]:
        _ellipse(frame, (eye[0], eye[1]), (EYE_RADIUS_REL * h, EYE_RADIUS_REL * h), 0.0, identity.eye_bgr)
    b, g, r = (int(round(c * NOSE_SHADE)) for c in identity.skin_bgr)
    nose_colour = (b, g, r)
    _ellipse(frame, (kps[2, 0], kps[2, 1]), (NOSE_AXES_REL[0] * h, NOSE_AXES_REL[1] * h), 0.0, nose_colour)
    left, right = kps[3], kps[4]
    mouth_center = (left + right) / 2.0
    delta = right - left
    angle = float(np.degrees(np.arctan2(delta[1], delta[0])))
    half_width = float(np.hypot(delta[0], delta[1])) / 2.0
    _ellipse(frame, (mouth_center[0], mouth_center[1]), (half_width, MOUTH_HALF_HEIGHT_REL * h), angle, MOUTH_BGR)
    return truth


def plain_background(width: int, height: int, bgr: tuple[int, int, int] = (205, 195, 175)) -> np.ndarray:
    """A flat frame in a colour that is never skin."""
    if not skin_rule.is_background_colour(bgr):
        raise ValueError(f"{bgr} could pass for skin; backgrounds need blue >= red")
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = bgr
    return frame


def busy_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A cluttered frame (gradients, shapes, lines, noise) in which no pixel passes for skin.

    Every colour has blue >= red, which the kit's skin rule rejects, so a detector that fires here is
    broken."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.empty((height, width, 3), dtype=np.float32)
    frame[..., 0] = 120 + 80 * np.sin(xx / 97.0 + 0.3) * np.cos(yy / 61.0)
    frame[..., 1] = 110 + 70 * np.cos(xx / 43.0 - yy / 77.0)
    frame[..., 2] = 60 + 50 * np.sin(yy / 53.0)
    canvas = np.clip(frame, 0, 255).astype(np.uint8)

    def colour() -> tuple[int, int, int]:
        blue = int(rng.integers(0, 256))
        return (blue, int(rng.integers(0, 256)), int(rng.integers(0, blue + 1)))

    n_shapes = max(20, (width * height) // 6000)
    for _ in range(n_shapes):
        kind = int(rng.integers(0, 4))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(8, max(9, min(width, height) // 5)))
        if kind == 0:
            cv2.rectangle(canvas, (x, y), (x + size, y + int(size * rng.uniform(0.3, 2.0))), colour(), -1)
        elif kind == 1:
            cv2.circle(canvas, (x, y), size // 2, colour(), -1, cv2.LINE_AA)
        elif kind == 2:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(canvas, (x, y), (x2, y2), colour(), int(rng.integers(1, 6)), cv2.LINE_AA)
        else:
            pts = rng.integers(-size, size, size=(5, 2)) + np.array([x, y])
            cv2.polylines(canvas, [pts.astype(np.int32)], True, colour(), 2, cv2.LINE_AA)
    noise = rng.integers(-12, 13, size=canvas.shape, dtype=np.int16)
    noisy = np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    noisy[..., 2] = np.minimum(noisy[..., 2], noisy[..., 0])  # the guarantee: red never exceeds blue
    return noisy
