"""Architecture-class models with random weights, for timing only (real compute, no real quality).

* `build_inswapper_arch`: the public inswapper_128's shape of network, ~138 M parameters: 7x7 conv
  3->128, 3x3 128->256, two stride-2 3x3 convs to 1024 channels at 32x32, six residual blocks of two
  3x3 1024->1024 convs, each conv followed by AdaIN styled by its own Linear 512->2048 (scale and
  bias) of the source latent, then an upsampling decoder back to 3x128x128, tanh mapped to 0..1.
  Same contract as the kit swapper (`target`, `source`, `output`; emap the last initializer).
* `build_scrfd_arch`: an SCRFD-class detector, ~10 G multiply-adds at 640x640 (the convention
  SCRFD's "GFLOPs" use), with the 9-output contract; its score head is biased so nothing fires.

`width` scales every channel count, so tests can build and run a tiny model from the very same
plan; `*_plan` lists every weight's shape so parameter counts need no weights at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from engines.testing.graph_helpers import GraphBuilder
from engines.testing.swapper_model import make_emap

TIMING_SEED = 1234
LATENT = 512
N_BLOCKS = 6


@dataclass(frozen=True)
class WeightSpec:
    """One initializer of an architecture plan: its name and shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def _ch(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def _conv_specs(name: str, cin: int, cout: int, k: int) -> list[WeightSpec]:
    return [WeightSpec(f"{name}.weight", (cout, cin, k, k)), WeightSpec(f"{name}.bias", (cout,))]


# --- inswapper-class ------------------------------------------------------------------------------

def inswapper_arch_plan(width: float = 1.0) -> list[WeightSpec]:
    """Every weight of the inswapper-class network, in graph order (emap excluded)."""
    c128, c256, c512, c1024 = (_ch(c, width) for c in (128, 256, 512, 1024))
    plan = _conv_specs("enc1", 3, c128, 7) + _conv_specs("enc2", c128, c256, 3)
    plan += _conv_specs("down1", c256, c512, 3) + _conv_specs("down2", c512, c1024, 3)
    for block in range(N_BLOCKS):
        for half in ("a", "b"):
            plan += _conv_specs(f"block{block}.conv_{half}", c1024, c1024, 3)
            plan += [WeightSpec(f"block{block}.style_{half}.weight", (LATENT, 2 * c1024)),
                     WeightSpec(f"block{block}.style_{half}.bias", (2 * c1024,))]
    plan += _conv_specs("up1", c1024, c512, 3) + _conv_specs("up2", c512, c256, 3)
    plan += _conv_specs("dec", c256, c128, 3) + _conv_specs("out", c128, 3, 7)
    return plan


def plan_parameter_count(plan: list[WeightSpec]) -> int:
    return sum(spec.size for spec in plan)


class _RandomWeights:
    """He-scaled normal weights and constant biases, drawn on demand in plan order from one seeded
    generator (so nothing big is held twice)."""

    def __init__(self, plan: list[WeightSpec], seed: int, gains: dict[str, float] | None = None,
                 biases: dict[str, float] | None = None) -> None:
        self.specs = {spec.name: spec for spec in plan}
        self.rng = np.random.default_rng(seed)
        self.gains = gains or {}
        self.biases = biases or {}

    def shape(self, name: str) -> tuple[int, ...]:
        return self.specs[name].shape

    def draw(self, name: str) -> np.ndarray:
        spec = self.specs[name]
        if name.endswith(".bias"):
            return np.full(spec.shape, self.biases.get(name, 0.0), dtype=np.float32)
        fan_in = spec.shape[0] if len(spec.shape) == 2 else int(np.prod(spec.shape[1:]))
        std = self.gains.get(name, 1.0) * np.sqrt(2.0 / fan_in)
        return self.rng.standard_normal(spec.shape, dtype=np.float32) * np.float32(std)


class _Net:
    """Adds plan weights as initializers (converted to the working float type) and common layers."""

    def __init__(self, g: GraphBuilder, weights: _RandomWeights) -> None:
        self.g = g
        self.weights = weights

    def w(self, name: str) -> str:
        return self.g.initializer(self.weights.draw(name).astype(self.g.float_dtype, copy=False), name=name)

    def conv(self, x: str, name: str, stride: int = 1) -> str:
        k = self.weights.shape(f"{name}.weight")[-1]
        pad = k // 2
        return self.g.op("Conv", [x, self.w(f"{name}.weight"), self.w(f"{name}.bias")],
                         strides=[stride, stride], pads=[pad, pad, pad, pad])

    def lrelu(self, x: str) -> str:
        return self.g.op("LeakyRelu", [x], alpha=0.2)


def build_inswapper_arch(width: float = 1.0, float16: bool = False, seed: int = TIMING_SEED,
                         progress: Callable[[str], None] | None = None, check: bool = True) -> onnx.ModelProto:
    """The inswapper-class timing model (width 1.0: ~138 M parameters, ~550 MB in float32).
    `check=False` skips onnx.checker here (check the saved file instead, to save memory)."""
    plan = inswapper_arch_plan(width)
    if progress:
        progress(f"inswapper-class: drawing {plan_parameter_count(plan) / 1e6:.1f} M random weights")
    gains = {f"block{b}.style_{h}.weight": 0.05 for b in range(N_BLOCKS) for h in "ab"}
    gains["out.weight"] = 0.1  # keep the random output off tanh's rails
    weights = _RandomWeights(plan, seed, gains=gains)
    c1024 = _ch(1024, width)
    g = GraphBuilder("arch", float_type=TensorProto.FLOAT16 if float16 else TensorProto.FLOAT)
    net = _Net(g, weights)
    target_in = g.add_input("target", ["N", 3, 128, 128])
    source_in = g.add_input("source", ["N", LATENT])
    x = g.cast(target_in, g.float_type) if float16 else target_in
    latent = g.cast(source_in, g.float_type) if float16 else source_in

    x = net.lrelu(net.conv(x, "enc1"))
    x = net.lrelu(net.conv(x, "enc2"))
    x = net.lrelu(net.conv(x, "down1", stride=2))
    x = net.lrelu(net.conv(x, "down2", stride=2))  # [N, 1024, 32, 32]
    ones, zeros = g.const(np.ones(c1024)), g.const(np.zeros(c1024))

    def adain(y: str, name: str) -> str:
        style = g.add(g.op("MatMul", [latent, net.w(f"{name}.weight")]), net.w(f"{name}.bias"))  # [N, 2C]
        style = g.reshape(style, [-1, 2 * c1024, 1, 1])
        scale, bias = g.op_multi("Split", [style, g.ints([c1024, c1024])], 2, axis=1)
        normed = g.op("InstanceNormalization", [y, ones, zeros], epsilon=1e-5)
        return g.add(g.mul(normed, g.offset(scale, 1.0)), bias)

    for block in range(N_BLOCKS):
        y = g.op("Relu", [adain(net.conv(x, f"block{block}.conv_a"), f"block{block}.style_a")])
        y = adain(net.conv(y, f"block{block}.conv_b"), f"block{block}.style_b")
        x = g.add(x, y)
    up_scales = g.initializer(np.array([1, 1, 2, 2], np.float32), "up_scales")
    for name in ("up1", "up2"):
        x = g.op("Resize", [x, "", up_scales], mode="nearest")
        x = net.lrelu(net.conv(x, name))
    x = net.lrelu(net.conv(x, "dec"))
    out = g.scale(g.offset(g.op("Tanh", [net.conv(x, "out")]), 1.0), 0.5)
    if float16:
        out = g.cast(out, TensorProto.FLOAT)
    g.add_output(out, "output", ["N", 3, 128, 128])
    if progress:
        progress("inswapper-class: assembling the graph")
    doc = (f"SwapCast timing model: inswapper-class architecture, random weights (width {width}, "
           f"{'float16' if float16 else 'float32'}). Real compute, no real quality.")
    return g.build("swapcast_inswapper_arch", doc, last_initializer=numpy_helper.from_array(make_emap(), "emap"),
                   check=check)


# --- SCRFD-class ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvLayer:
    """One conv of the SCRFD-class plan: channels, kernel, stride, and the stride of its output."""

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    out_stride: int


SCRFD_HEAD_OUTPUTS = {"cls": 2, "bbox": 8, "kps": 20}  # 2 anchors x (1 score, 4 box, 10 kps)
SCRFD_SCORE_BIAS = -9.0  # sigmoid(-9) ~ 1e-4: random weights never pass insightface's 0.5


def scrfd_arch_layers(width: float = 1.0) -> list[ConvLayer]:
    """The backbone, neck and heads of the SCRFD-class detector, in graph order."""
    c = {n: _ch(n, width) for n in (32, 64, 128, 256, 512)}
    layers = [ConvLayer("stem1", 3, c[32], 3, 2, 2), ConvLayer("stem2", c[32], c[64], 3, 2, 4),
              ConvLayer("s4.conv", c[64], c[64], 3, 1, 4)]
    previous = c[64]
    for stride, channels in ((8, c[128]), (16, c[256]), (32, c[512])):
        layers.append(ConvLayer(f"s{stride}.down", previous, channels, 3, 2, stride))
        layers += [ConvLayer(f"s{stride}.conv{i}", channels, channels, 3, 1, stride) for i in range(2)]
        previous = channels
    for stride, channels in ((8, c[128]), (16, c[256]), (32, c[512])):
        layers.append(ConvLayer(f"neck{stride}", channels, c[128], 1, 1, stride))
        layers.append(ConvLayer(f"head{stride}.conv", c[128], c[128], 3, 1, stride))
        for kind, n_out in SCRFD_HEAD_OUTPUTS.items():
            layers.append(ConvLayer(f"head{stride}.{kind}", c[128], n_out, 3, 1, stride))
    return layers


def scrfd_arch_macs(width: float = 1.0, height: int = 640, width_px: int = 640) -> int:
    """Multiply-adds of one forward pass at this input size."""
    return sum((height // layer.out_stride) * (width_px // layer.out_stride) * layer.cin * layer.cout * layer.kernel**2
               for layer in scrfd_arch_layers(width))


def build_scrfd_arch(width: float = 1.0, seed: int = TIMING_SEED) -> onnx.ModelProto:
    """The SCRFD-class timing detector (input `input.1` [1,3,H,W], 9 outputs)."""
    layers = scrfd_arch_layers(width)
    plan = [spec for layer in layers for spec in _conv_specs(layer.name, layer.cin, layer.cout, layer.kernel)]
    gains = {f"head{s}.{kind}.weight": 0.01 for s in (8, 16, 32) for kind in SCRFD_HEAD_OUTPUTS}
    biases = {f"head{s}.cls.bias": SCRFD_SCORE_BIAS for s in (8, 16, 32)}
    net = _Net(GraphBuilder("scrfd"), _RandomWeights(plan, seed, gains=gains, biases=biases))
    g = net.g
    x = g.add_input("input.1", [1, 3, "H", "W"])
    by_name = {layer.name: layer for layer in layers}
    for name in ("stem1", "stem2", "s4.conv"):
        x = g.op("Relu", [net.conv(x, name, by_name[name].stride)])
    features: dict[int, str] = {}
    for stride in (8, 16, 32):
        x = g.op("Relu", [net.conv(x, f"s{stride}.down", 2)])
        for i in range(2):
            x = g.op("Relu", [net.conv(x, f"s{stride}.conv{i}")])
        features[stride] = x
    outs: dict[str, list[str]] = {kind: [] for kind in SCRFD_HEAD_OUTPUTS}
    widths = {"cls": 1, "bbox": 4, "kps": 10}
    for stride in (8, 16, 32):
        y = g.op("Relu", [net.conv(features[stride], f"neck{stride}")])
        y = g.op("Relu", [net.conv(y, f"head{stride}.conv")])
        for kind in SCRFD_HEAD_OUTPUTS:
            z = net.conv(y, f"head{stride}.{kind}")
            if kind == "cls":
                z = g.op("Sigmoid", [z])
            outs[kind].append(g.reshape(g.op("Transpose", [z], perm=[0, 2, 3, 1]), [-1, widths[kind]]))
    names = {"cls": "score", "bbox": "bbox", "kps": "kps"}
    for kind in SCRFD_HEAD_OUTPUTS:
        for stride, tensor in zip((8, 16, 32), outs[kind]):
            g.add_output(tensor, f"{names[kind]}_{stride}", [f"N{stride}", widths[kind]])
    doc = (f"SwapCast timing model: SCRFD-class detector, random weights (width {width}), "
           f"{scrfd_arch_macs(width) / 1e9:.1f} G multiply-adds at 640x640; scores never fire.")
    return g.build("swapcast_scrfd_arch", doc)
