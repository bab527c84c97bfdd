"""GFPGAN-style face restoration on a 512-px FFHQ-aligned crop, blended back by an amount."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..align.templates import ffhq_template
from ..align.transform import crop, estimate_similarity
from ..paste.paste_back import paste_back
from ..paste.masks import blend_mask


class FaceEnhancer:
    def __init__(self, model_path: Path, session: ort.InferenceSession) -> None:
        self.session = session
        inputs = session.get_inputs()
        self._input_name = inputs[0].name
        self._output_name = session.get_outputs()[0].name
        self.size = int(inputs[0].shape[2]) if isinstance(inputs[0].shape[2], int) else 512
        self._template = ffhq_template(self.size)
        self._dtype = np.float16 if "float16" in inputs[0].type else np.float32

    def enhance(self, frame: np.ndarray, kps: np.ndarray, blend: float) -> None:
        """Restores the face at `kps` in place; blend 0 = untouched, 1 = fully restored."""
        if blend <= 0:
            return
        matrix = estimate_similarity(kps, self._template)
        face = crop(frame, matrix, self.size)
        blob = (face[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0).astype(self._dtype)
        pred = self.session.run([self._output_name], {self._input_name: blob})[0][0].astype(np.float32)
        restored = np.clip((pred.transpose(1, 2, 0)[..., ::-1] + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        mask = blend_mask(self.size, False)
        paste_back(frame, restored, mask if blend >= 1.0 else mask.scaled(blend), matrix, face)
