"""Loads a written kit through insightface's own classes, for tests that drive the real path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from insightface.app.common import Face
from insightface.model_zoo import get_model
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.inswapper import INSwapper
from insightface.model_zoo.scrfd import SCRFD

from engines.testing.manifest import MANIFEST_NAME, Manifest

CPU = ["CPUExecutionProvider"]


def kit_model_path(directory: Path, model_id: str) -> Path:
    """The file of a kit model, found through the kit's manifest."""
    return Path(directory) / Manifest.load(Path(directory) / MANIFEST_NAME).by_id(model_id).file


@dataclass
class KitInsightface:
    """The kit's detector, recognizer and swapper as insightface objects, prepared for the CPU."""

    detector: SCRFD
    recognizer: ArcFaceONNX
    swapper: INSwapper

    def faces(self, image: np.ndarray) -> list[Face]:
        """Every face insightface finds in a BGR image, with its embedding."""
        boxes, kps = self.detector.detect(image, max_num=0)
        found: list[Face] = []
        for i in range(len(boxes)):
            face = Face(bbox=boxes[i, :4], kps=kps[i], det_score=float(boxes[i, 4]))
            self.recognizer.get(image, face)
            found.append(face)
        return found


def load_kit_insightface(directory: Path, det_size: tuple[int, int] = (640, 640),
                         swapper_id: str = "inswapper_128") -> KitInsightface:
    detector = get_model(str(kit_model_path(directory, "det_10g")), providers=CPU)
    detector.prepare(ctx_id=-1, input_size=det_size)
    recognizer = get_model(str(kit_model_path(directory, "w600k_r50")), providers=CPU)
    recognizer.prepare(ctx_id=-1)
    swapper = get_model(str(kit_model_path(directory, swapper_id)), providers=CPU)
    if not (isinstance(detector, SCRFD) and isinstance(recognizer, ArcFaceONNX) and isinstance(swapper, INSwapper)):
        raise TypeError(f"insightface routed the kit unexpectedly: {detector!r}, {recognizer!r}, {swapper!r}")
    return KitInsightface(detector=detector, recognizer=recognizer, swapper=swapper)
