"""The kit's enhancer: a GFPGAN-1.4-contract ONNX graph that visibly and deterministically sharpens.

Input `input` [N,3,512,512] in -1..1, output `output` of the same shape in -1..1. It applies an
unsharp mask (3x3, edge-reflected) and a mild contrast stretch about mid-grey, then clips: flat
regions change only by the contrast, edges get crisper.
"""

from __future__ import annotations

import numpy as np
import onnx

from engines.testing.graph_helpers import GraphBuilder

SIZE = 512
SHARPEN = 0.3
CONTRAST = 1.1


def sharpen_kernel(amount: float = SHARPEN) -> np.ndarray:
    """[3,1,3,3] depthwise unsharp-mask kernel (sums to 1, so flat areas are kept)."""
    k = np.array([[0.0, -amount, 0.0], [-amount, 1.0 + 4.0 * amount, -amount], [0.0, -amount, 0.0]], np.float32)
    return np.repeat(k[None, None], 3, axis=0)


def enhance_reference(image: np.ndarray) -> np.ndarray:
    """What the graph computes, in numpy: [N,3,H,W] in -1..1 -> same."""
    padded = np.pad(image, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    k = sharpen_kernel()[0, 0]
    h, w = image.shape[2:]
    out = sum(k[i, j] * padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3))
    return np.clip(out * CONTRAST, -1.0, 1.0)


def build_enhancer() -> onnx.ModelProto:
    g = GraphBuilder("enh")
    x = g.add_input("input", ["N", 3, SIZE, SIZE])
    padded = g.op("Pad", [x, g.ints([0, 0, 1, 1, 0, 0, 1, 1])], mode="reflect")
    sharp = g.op("Conv", [padded, g.initializer(sharpen_kernel(), "sharpen")], group=3)
    out = g.clip(g.scale(sharp, CONTRAST), -1.0, 1.0)
    g.add_output(out, "output", ["N", 3, SIZE, SIZE])
    doc = f"SwapCast test-kit enhancer (GFPGAN 1.4 contract): unsharp mask {SHARPEN}, contrast x{CONTRAST}."
    return g.build("swapcast_kit_enhancer", doc)
