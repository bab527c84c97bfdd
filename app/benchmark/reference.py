"""The reference path: what roop and older Deep-Live-Cam run for every frame.

insightface's `FaceAnalysis.get` (detect + recognize every face) followed by
`INSwapper.get(paste_back=True)` for each face, on the same model files as ours.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np


class ReferencePipeline:
    def __init__(self, detector: Path, recognizer: Path, swapper: Path, providers: list[str], det_size: int) -> None:
        from insightface.app import FaceAnalysis
        from insightface.model_zoo import model_zoo

        # insightface's norm_crop calls scikit-image's deprecated estimate() on every face: noise we
        # cannot fix from here (our own path does not use scikit-image).
        warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning,
                                module="insightface")

        # FaceAnalysis loads every .onnx of one folder: give it a folder with just these two.
        self._folder = tempfile.TemporaryDirectory(prefix="swapcast-reference-")
        for path in (detector, recognizer):
            os.symlink(path.resolve(), Path(self._folder.name) / path.name)
        with contextlib.redirect_stdout(io.StringIO()):  # insightface prints on load
            self.analysis = FaceAnalysis(name=self._folder.name, providers=providers,
                                         allowed_modules=["detection", "recognition"])
            self.analysis.prepare(ctx_id=0, det_size=(det_size, det_size))
            self.swapper = model_zoo.get_model(str(swapper), providers=providers)

    def source_face(self, image: np.ndarray):
        faces = self.analysis.get(image)
        if not faces:
            raise ValueError("reference path found no face in the source image")
        return max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))

    def process(self, frame: np.ndarray, source_face) -> np.ndarray:
        result = frame.copy()
        for face in self.analysis.get(frame):
            result = self.swapper.get(result, face, source_face, paste_back=True)
        return result

    def close(self) -> None:
        self._folder.cleanup()
