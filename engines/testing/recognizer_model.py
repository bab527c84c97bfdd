"""The kit's recognizer: an ArcFace-contract ONNX graph whose embedding encodes skin colour.

Input: the aligned 112x112 crop, RGB, (p - 127.5) / 127.5, batch dimension dynamic. The graph takes
the mean colour f of the skin pixels (soft colour rule) inside the face region of the crop (the face
ellipse, shrunk, so eyes, nose and mouth drop out through the colour rule and the rim and background
through the region), then encodes it as RBF activations over 512 colour centres, L2-normalised
(see `identity_code`). Two palette identities are far apart; the same face after a small shift or
rescale of the crop stays almost the same.
"""

from __future__ import annotations

import numpy as np
import onnx

from engines.testing import identity_code, skin_rule
from engines.testing.graph_helpers import GraphBuilder

INPUT_NAME = "input.1"
OUTPUT_NAME = "683"  # arbitrary, like the exported originals


def skin_membership(g: GraphBuilder, red: str, blue: str) -> str:
    """Soft skin mask from red and blue channels in grey levels (0..255)."""
    red_part = g.ramp(red, skin_rule.RED_LO, skin_rule.RED_HI)
    rb_part = g.ramp(g.sub(red, blue), skin_rule.RED_MINUS_BLUE_LO, skin_rule.RED_MINUS_BLUE_HI)
    return g.mul(red_part, rb_part)


def mean_skin_colour(g: GraphBuilder, pixels: str, region: np.ndarray, eps: float = 1e-4) -> tuple[str, str]:
    """(mean colour [N,3], mask [N,1,S,S]) of skin pixels of `pixels` ([N,3,S,S], RGB, in the units
    the caller's thresholds use: grey levels) weighted by `region` ([1,1,S,S])."""
    red, blue = g.slice_channels(pixels, 0, 1), g.slice_channels(pixels, 2, 3)
    mask = skin_membership(g, red, blue)
    weight = g.mul(mask, g.const(region, "region"))
    # Means rather than sums, so a float16 graph cannot overflow.
    total = g.op("ReduceMean", [weight], axes=[2, 3], keepdims=0)  # [N, 1]
    summed = g.op("ReduceMean", [g.mul(pixels, weight)], axes=[2, 3], keepdims=0)  # [N, 3]
    return g.div(summed, g.offset(total, eps)), mask


def rbf_encode(g: GraphBuilder, colour: str) -> str:
    """[N,3] colour (grey levels) -> [N,512] L2-normalised RBF activations."""
    centres = identity_code.colour_centres().astype(np.float32)  # [512, 3]
    sq_norm = g.reduce_sum(g.mul(colour, colour), [1])  # [N, 1]
    cross = g.op("MatMul", [colour, g.const(centres.T.copy(), "centres_t")])  # [N, 512]
    centre_sq = g.const((centres.astype(np.float64) ** 2).sum(axis=1).reshape(1, -1), "centre_sq")
    dist2 = g.add(g.sub(sq_norm, g.scale(cross, 2.0)), centre_sq)
    act = g.op("Exp", [g.scale(dist2, -1.0 / (2.0 * identity_code.TAU**2))])
    norm = g.op("Sqrt", [g.offset(g.reduce_sum(g.mul(act, act), [1]), 1e-12)])
    return g.div(act, norm)


def build_recognizer() -> onnx.ModelProto:
    g = GraphBuilder("rec")
    x = g.add_input(INPUT_NAME, ["N", 3, 112, 112])
    pixels = g.offset(g.scale(x, 127.5), 127.5)  # back to grey levels
    colour, _mask = mean_skin_colour(g, pixels, identity_code.RECOGNIZER_REGION.weights())
    embedding = rbf_encode(g, colour)
    g.add_output(embedding, OUTPUT_NAME, ["N", identity_code.EMBEDDING_SIZE])
    doc = ("SwapCast test-kit recognizer (ArcFace contract): embedding = RBF code of the aligned face's "
           f"mean skin colour, tau={identity_code.TAU}.")
    return g.build("swapcast_kit_recognizer", doc)
