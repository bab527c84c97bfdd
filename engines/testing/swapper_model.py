"""The kit's swapper: an inswapper-contract ONNX graph whose output carries the source's identity.

Inputs `target` [N,3,128,128] (aligned crop, RGB 0..1) and `source` [N,512] (latent =
normalize(embedding @ emap)); output `output` [N,3,128,128] in 0..1. `emap` (a seeded random
orthogonal 512x512 matrix) is the graph's last initializer, as insightface expects; the graph itself
multiplies the latent by emap^-1 = emap^T (a separate initializer) to get the embedding back, decodes
the source colour from it (activation-weighted mean of the RBF centres), and recolours the target's
skin toward it: each skin pixel is scaled per channel by source colour / target mean skin colour,
weighted by its soft skin membership, so eyes, nose, mouth and background stay as they were.
A caller that forgets the emap product feeds a scrambled code and gets a garbage colour.

The float16 variant, like the public inswapper_128_fp16, keeps float32 inputs and outputs and
computes in float16 inside (Casts at both ends); its emap stays float32.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from engines.testing import identity_code
from engines.testing.graph_helpers import GraphBuilder
from engines.testing.recognizer_model import mean_skin_colour

EMAP_SEED = 20240611
CROP_SIZE = 128


def make_emap(seed: int = EMAP_SEED) -> np.ndarray:
    """A random orthogonal 512x512 float32 matrix (so its inverse is its transpose)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((identity_code.EMBEDDING_SIZE, identity_code.EMBEDDING_SIZE)))
    q = q * np.sign(np.diag(r))  # a unique, well-spread orthogonal matrix
    return q.astype(np.float32)


def build_swapper(float16: bool = False, emap: np.ndarray | None = None) -> onnx.ModelProto:
    emap = make_emap() if emap is None else emap.astype(np.float32)
    g = GraphBuilder("swap", float_type=TensorProto.FLOAT16 if float16 else TensorProto.FLOAT)
    target_in = g.add_input("target", ["N", 3, CROP_SIZE, CROP_SIZE])
    source_in = g.add_input("source", ["N", identity_code.EMBEDDING_SIZE])
    target = g.cast(target_in, g.float_type) if float16 else target_in
    source = g.cast(source_in, g.float_type) if float16 else source_in

    # Undo the emap product, then decode the colour the embedding stands for (0..1 units).
    embedding = g.op("MatMul", [source, g.const(emap.T.copy(), "emap_inverse")])
    centres = (identity_code.colour_centres() / 255.0).astype(np.float32)
    weighted = g.op("MatMul", [embedding, g.const(centres, "centres")])  # [N, 3]
    weight = g.op("MatMul", [embedding, g.const(np.ones((centres.shape[0], 1), np.float32), "ones")])  # [N, 1]
    source_colour = g.div(weighted, weight)

    pixels = g.scale(target, 255.0)  # grey levels, the units of the skin rule
    target_colour, mask = mean_skin_colour(g, pixels, identity_code.SWAPPER_REGION.weights())
    ratio = g.div(g.scale(source_colour, 255.0), g.op("Max", [target_colour, g.const(5.0)]))
    ratio = g.reshape(ratio, [-1, 3, 1, 1])
    gain = g.offset(g.mul(mask, g.offset(ratio, -1.0)), 1.0)  # 1 off skin, ratio on skin
    out = g.clip(g.mul(target, gain), 0.0, 1.0)
    if float16:
        out = g.cast(out, TensorProto.FLOAT)
    g.add_output(out, "output", ["N", 3, CROP_SIZE, CROP_SIZE])
    doc = ("SwapCast test-kit swapper (inswapper contract" + (", float16 inside" if float16 else "") +
           "): recolours the target's skin to the colour the source latent encodes.")
    return g.build("swapcast_kit_swapper", doc, last_initializer=numpy_helper.from_array(emap, "emap"))
