"""The inswapper model: source latent, batched inference over faces, and a check of its output.

A broken fp16 model on some GPUs returns NaN or a flat image ("a black box where the face should
be"): `SwapOutputError` lets the engine mark the model unhealthy and fall back to fp32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from ..align.templates import arcface_template

GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


class SwapOutputError(RuntimeError):
    """The swap model produced junk (NaN, inf or a constant image)."""


def read_emap(model_path: Path, model_bytes: bytes | None = None) -> np.ndarray:
    """inswapper keeps its 512×512 embedding map as the graph's last initializer. From `model_bytes`
    (the bytes onnxruntime runs) when given, so the map cannot come from a file swapped since."""
    model = onnx.load_model_from_string(model_bytes) if model_bytes is not None else onnx.load(str(model_path))
    emap = numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float32)
    if emap.shape != (512, 512):
        raise ValueError(f"{model_path.name}: last initializer has shape {emap.shape}, expected (512, 512) — "
                         "not an inswapper-compatible model")
    return emap


class Swapper:
    def __init__(self, model_path: Path, session: ort.InferenceSession, model_bytes: bytes | None = None) -> None:
        self.model_path = model_path
        self.session = session
        self.emap = read_emap(model_path, model_bytes)
        inputs = session.get_inputs()
        if len(inputs) != 2:
            raise ValueError(f"{model_path.name}: expected 2 inputs (target, source), found {len(inputs)}")
        self._target_name, self._source_name = inputs[0].name, inputs[1].name
        self._output_name = session.get_outputs()[0].name
        self.size = int(inputs[0].shape[2])
        self.template = arcface_template(self.size)  # where the 5 keypoints go in its input crop
        batch_dim = inputs[0].shape[0]
        self.batchable = not isinstance(batch_dim, int) or batch_dim != 1
        self._dtype = np.float16 if "float16" in inputs[0].type else np.float32
        # On a GPU, bind the output to device memory so onnxruntime skips its own staging copies.
        self._device = "cuda" if session.get_providers()[0] in GPU_PROVIDERS else None

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        latent = embedding.reshape(1, -1).astype(np.float32) @ self.emap
        return (latent / max(float(np.linalg.norm(latent)), 1e-12)).reshape(-1)

    def swap(self, crops: Sequence[np.ndarray], latents: Sequence[np.ndarray]) -> list[np.ndarray]:
        """BGR uint8 crops (size×size) → swapped BGR uint8 crops."""
        if not crops:
            return []
        # BGR→RGB, HWC→CHW, 0..1: one vectorised pass over all faces.
        blob = np.stack(crops)[..., ::-1].transpose(0, 3, 1, 2).astype(self._dtype) * self._dtype(1 / 255)
        latent = np.stack(latents).astype(self._dtype)
        if self.batchable:
            pred = self._run(blob, latent)
        else:
            pred = np.concatenate([self._run(blob[i:i + 1], latent[i:i + 1]) for i in range(len(crops))])
        return [self._to_bgr(p) for p in pred]

    def _run(self, blob: np.ndarray, latent: np.ndarray) -> np.ndarray:
        if self._device is not None:
            pred = self._run_bound(blob, latent)
        else:
            pred = self.session.run([self._output_name], {self._target_name: blob, self._source_name: latent})[0]
        check_output(pred)
        return pred

    def _run_bound(self, blob: np.ndarray, latent: np.ndarray) -> np.ndarray:
        binding = self.session.io_binding()
        binding.bind_cpu_input(self._target_name, np.ascontiguousarray(blob))
        binding.bind_cpu_input(self._source_name, np.ascontiguousarray(latent))
        binding.bind_output(self._output_name, self._device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    @staticmethod
    def _to_bgr(pred: np.ndarray) -> np.ndarray:
        rgb = np.clip(pred.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return np.ascontiguousarray(rgb[..., ::-1])


def check_output(pred: np.ndarray) -> None:
    if not np.isfinite(pred).all():
        raise SwapOutputError("swap model output contains NaN/inf")
    flat = pred.reshape(pred.shape[0], -1).astype(np.float32)
    if (flat.max(axis=1) - flat.min(axis=1) < 1e-3).any():
        raise SwapOutputError("swap model output is a constant image")
