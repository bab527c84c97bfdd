"""A small builder over `onnx.helper` that names nodes, folds constants into initializers and saves
models the way every kit model must be saved (opset 17, IR version 8, checked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "swapcast-test-kit"

Dim = int | str


@dataclass
class GraphBuilder:
    """Accumulates nodes, initializers, inputs and outputs of one graph.

    Node names are `<prefix>/<Op>_<n>` so they never start with `Sub`/`Mul` (insightface's ArcFace
    loader treats a graph whose first nodes are named so as an mxnet export and changes its
    normalisation)."""

    prefix: str
    float_type: int = TensorProto.FLOAT
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    # Initializers go straight into the model being built, so big weights are never held twice.
    model: onnx.ModelProto = field(default_factory=onnx.ModelProto)
    inputs: list[onnx.ValueInfoProto] = field(default_factory=list)
    outputs: list[onnx.ValueInfoProto] = field(default_factory=list)
    _counter: int = 0

    @property
    def float_dtype(self) -> type[np.floating]:
        return np.float16 if self.float_type == TensorProto.FLOAT16 else np.float32

    def _name(self, hint: str) -> str:
        self._counter += 1
        return f"{self.prefix}/{hint}_{self._counter}"

    def add_input(self, name: str, shape: Sequence[Dim], elem_type: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def add_output(self, tensor: str, name: str, shape: Sequence[Dim] | None,
                   elem_type: int = TensorProto.FLOAT) -> str:
        """Exposes `tensor` as graph output `name` (through an Identity node)."""
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=self._name("Identity")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape)))
        return name

    def initializer(self, array: np.ndarray, hint: str = "const", name: str | None = None) -> str:
        tensor_name = name or self._name(hint)
        self.model.graph.initializer.add().CopyFrom(numpy_helper.from_array(np.asarray(array), tensor_name))
        return tensor_name

    def const(self, value: float | Sequence[float] | np.ndarray, hint: str = "c") -> str:
        """A constant in the graph's working float type."""
        return self.initializer(np.asarray(value, dtype=self.float_dtype), hint)

    def ints(self, value: int | Sequence[int], hint: str = "i") -> str:
        return self.initializer(np.asarray(value, dtype=np.int64), hint)

    def op(self, op_type: str, inputs: Sequence[str], **attrs: object) -> str:
        """Adds one single-output node and returns its output's name."""
        name = self._name(op_type)
        out = f"{name}:0"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out

    def op_multi(self, op_type: str, inputs: Sequence[str], n_outputs: int, **attrs: object) -> list[str]:
        name = self._name(op_type)
        outs = [f"{name}:{i}" for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs

    # --- small conveniences -------------------------------------------------------------------
    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self.op("Div", [a, b])

    def scale(self, a: str, factor: float) -> str:
        return self.mul(a, self.const(factor, "scale"))

    def offset(self, a: str, amount: float) -> str:
        return self.add(a, self.const(amount, "offset"))

    def clip(self, a: str, lo: float, hi: float) -> str:
        return self.op("Clip", [a, self.const(lo, "lo"), self.const(hi, "hi")])

    def ramp(self, a: str, lo: float, hi: float) -> str:
        """0 below `lo`, 1 above `hi`, linear in between."""
        return self.clip(self.scale(self.offset(a, -lo), 1.0 / (hi - lo)), 0.0, 1.0)

    def slice_channels(self, a: str, start: int, end: int, axis: int = 1) -> str:
        return self.op("Slice", [a, self.ints([start]), self.ints([end]), self.ints([axis])])

    def reduce_sum(self, a: str, axes: Sequence[int], keepdims: int = 1) -> str:
        return self.op("ReduceSum", [a, self.ints(list(axes))], keepdims=keepdims)

    def reshape(self, a: str, shape: Sequence[int]) -> str:
        return self.op("Reshape", [a, self.ints(list(shape))])

    def cast(self, a: str, to: int) -> str:
        return self.op("Cast", [a], to=to)

    def indicator(self, condition: str) -> str:
        """A boolean tensor as 0/1 in the working float type."""
        return self.cast(condition, self.float_type)

    def build(self, graph_name: str, doc: str, last_initializer: onnx.TensorProto | None = None,
              check: bool = True) -> onnx.ModelProto:
        """The finished model. `last_initializer`, when given, is placed after every other one.
        `check=False` skips `onnx.checker` (for huge models, check the saved file with
        `check_saved` instead)."""
        model = self.model
        graph = model.graph
        if last_initializer is not None:
            graph.initializer.add().CopyFrom(last_initializer)
        graph.name = graph_name
        graph.doc_string = doc
        graph.node.extend(self.nodes)
        graph.input.extend(self.inputs)
        graph.output.extend(self.outputs)
        model.ir_version = IR_VERSION
        model.producer_name = PRODUCER
        model.doc_string = doc
        model.opset_import.extend([helper.make_opsetid("", OPSET)])
        if check:
            onnx.checker.check_model(model)
        self.model = onnx.ModelProto()  # the builder is spent
        return model


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    """Writes a model as one file (no external data); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def check_saved(path: Path) -> None:
    """Runs `onnx.checker` on a saved model file (lets a huge model be checked after it is freed)."""
    onnx.checker.check_model(str(path))


def parameter_count(model: onnx.ModelProto) -> int:
    """Number of scalars held in the model's initializers."""
    return int(sum(int(np.prod(t.dims)) if len(t.dims) else 1 for t in model.graph.initializer))
