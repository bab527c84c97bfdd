"""ArcFace embeddings of aligned faces, batched, through insightface's ArcFaceONNX."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from insightface.model_zoo.arcface_onnx import ArcFaceONNX

from ..align.templates import arcface_template
from ..align.transform import crop, estimate_similarity


class FaceRecognizer:
    def __init__(self, model_path: Path, session: ort.InferenceSession, model_bytes: bytes | None = None) -> None:
        # ArcFaceONNX reads the graph (onnx.load) for its input normalisation: from the bytes that
        # `session` runs when given, not from a file that may have changed since they were checked.
        source = io.BytesIO(model_bytes) if model_bytes is not None else str(model_path)
        self._arcface = ArcFaceONNX(model_file=source, session=session)
        self.size = int(self._arcface.input_size[0])
        self._template = arcface_template(self.size)

    def aligned(self, frame: np.ndarray, kps: np.ndarray) -> np.ndarray:
        return crop(frame, estimate_similarity(kps, self._template), self.size)

    def embed(self, frame: np.ndarray, kpss: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 512) L2-normalised embeddings, one batch for all faces."""
        if not kpss:
            return np.zeros((0, 512), np.float32)
        crops = [self.aligned(frame, kps) for kps in kpss]
        features = np.asarray(self._arcface.get_feat(crops), dtype=np.float32).reshape(len(crops), -1)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return features / np.maximum(norms, 1e-12)
