"""The kit's lip syncer: a Wav2Lip-contract ONNX graph that opens the mouth as wide as the audio is loud.

Inputs `source` [1,1,80,16] (the mel window, −4..4) and `target` [1,6,96,96] (masked crop, whole
crop; BGR 0..1); output `output` [1,3,96,96]. It returns the whole crop (channels 3–5) with a dark
mouth opening drawn at the crop template's mouth: an ellipse whose half-height grows linearly with
the window's mean level, from nothing at silence (−4) to `MAX_OPEN` px at `LOUD` and above. In
silence the output is the input crop exactly, so tests see lips move with speech and stay still
otherwise.
"""

from __future__ import annotations

import numpy as np
import onnx

from engines.builtin.lipsync.mel import MEL_STEPS, N_MELS, SILENCE
from engines.builtin.lipsync.mouth import CROP_SIZE, CROP_TEMPLATE
from engines.testing.graph_helpers import GraphBuilder

LOUD = -1.5  # mean mel level (−4..4) at which the mouth is fully open; speech_like() bursts reach it
MAX_OPEN = 7.0  # px, half-height of the opening in the 96-px crop
MOUTH_BGR = (20.0, 15.0, 60.0)


def _mouth_distance() -> np.ndarray:
    """[1,1,96,96] how far each pixel is from the mouth's centre line, scaled so that a pixel lies
    inside an opening of half-height h exactly when its value is below h (∞ beyond the corners)."""
    left, right = CROP_TEMPLATE[3].astype(np.float64), CROP_TEMPLATE[4].astype(np.float64)
    cx, cy = (left + right) / 2.0
    half_width = float(np.linalg.norm(right - left)) / 2.0
    yy, xx = np.mgrid[0:CROP_SIZE, 0:CROP_SIZE].astype(np.float64)
    across = 1.0 - ((xx - cx) / half_width) ** 2
    distance = np.where(across > 1e-6, np.abs(yy - cy) / np.sqrt(np.maximum(across, 1e-6)), 1e6)
    return distance.astype(np.float32)[None, None]


def opening(mel: np.ndarray) -> float:
    """The half-height (px) the kit opens the mouth for this window: what the graph computes."""
    loudness = float(np.clip((float(np.mean(mel)) - SILENCE) / (LOUD - SILENCE), 0.0, 1.0))
    return loudness * MAX_OPEN


def build_lip_syncer() -> onnx.ModelProto:
    g = GraphBuilder("lips")
    source = g.add_input("source", [1, 1, N_MELS, MEL_STEPS])
    target = g.add_input("target", [1, 6, CROP_SIZE, CROP_SIZE])
    level = g.op("ReduceMean", [source], axes=[1, 2, 3], keepdims=1)  # [1,1,1,1]
    half_height = g.scale(g.ramp(level, SILENCE, LOUD), MAX_OPEN)
    # Coverage 1 well inside the opening, a 1-px soft edge, 0 outside (and everywhere in silence).
    inside = g.clip(g.sub(half_height, g.initializer(_mouth_distance(), "mouth_distance")), 0.0, 1.0)
    face = g.slice_channels(target, 3, 6)
    dark = g.const(np.asarray(MOUTH_BGR, np.float32).reshape(1, 3, 1, 1) / 255.0, "mouth_colour")
    out = g.add(face, g.mul(inside, g.sub(dark, face)))
    g.add_output(out, "output", [1, 3, CROP_SIZE, CROP_SIZE])
    doc = (f"SwapCast test-kit lip syncer (Wav2Lip contract): mouth opening of half-height {MAX_OPEN}px x "
           f"clip((mean(mel) - {SILENCE}) / {LOUD - SILENCE}, 0, 1).")
    return g.build("swapcast_kit_lip_syncer", doc)
