"""SCRFD face detection through insightface's own decoder (anchors, NMS) on our session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from insightface.model_zoo.scrfd import SCRFD

from .faces import DetectedFace


class FaceDetector:
    def __init__(self, model_path: Path, session: ort.InferenceSession, det_size: int = 640,
                 threshold: float = 0.5) -> None:
        self._scrfd = SCRFD(model_file=str(model_path), session=session)
        self.det_size = det_size
        self.threshold = threshold
        self._scrfd.prepare(ctx_id=0, input_size=(det_size, det_size), det_thresh=threshold)

    def detect(self, frame: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        boxes, kpss = self._scrfd.detect(frame, input_size=(self.det_size, self.det_size), max_num=max_faces)
        if boxes is None or len(boxes) == 0:
            return []
        faces = []
        for i, row in enumerate(boxes):
            kps = kpss[i] if kpss is not None else _kps_from_box(row[:4])
            faces.append(DetectedFace(box=row[:4].astype(np.float32), kps=np.asarray(kps, np.float32),
                                      score=float(row[4])))
        return faces


def _kps_from_box(box: np.ndarray) -> np.ndarray:
    """Detectors without landmarks: place the template's proportions in the box (rough but usable)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    unit = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]], np.float32)
    return unit * np.array([w, h], np.float32) + np.array([x1, y1], np.float32)
