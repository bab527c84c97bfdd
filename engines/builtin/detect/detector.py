"""SCRFD face detection through insightface's own decoder (anchors, NMS) on our session.

Peers letterbox every frame into a 640×640 square; for a 16:9 frame 44 % of that is black padding
the model still has to process. When the model's input is dynamic we fit the detector's input to
the frame's aspect ratio instead (640×384 for 16:9), same scale, far fewer pixels.
"""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
from insightface.model_zoo.scrfd import SCRFD

from .faces import DetectedFace

STRIDE = 32  # the coarsest SCRFD stride: input sides must be multiples of it


class FaceDetector:
    def __init__(self, session: ort.InferenceSession, det_size: int = 640, threshold: float = 0.5) -> None:
        # Our session (our providers and options, the model bytes that were verified) must be the one
        # that runs: SCRFD gets no model file, so it derives no session from one and reads the input
        # size from this session, never from a file that may have changed since it was checked.
        try:
            self._scrfd = SCRFD(model_file=None, session=session, static_shape_sessions=False)
        except TypeError:  # insightface < 2 has no such option and always uses the given session
            self._scrfd = SCRFD(model_file=None, session=session)
        self.det_size = det_size
        self.threshold = threshold
        shape = session.get_inputs()[0].shape
        self.dynamic = not (isinstance(shape[2], int) and isinstance(shape[3], int))
        self._scrfd.prepare(ctx_id=0, input_size=(det_size, det_size), det_thresh=threshold)
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}

    def input_size(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        """(width, height) fed to the model for frames of this shape."""
        height, width = frame_shape[:2]
        key = (width, height)
        if key not in self._sizes:
            if not self.dynamic:
                self._sizes[key] = (self.det_size, self.det_size)
            elif width >= height:
                short = math.ceil(self.det_size * height / width / STRIDE) * STRIDE
                self._sizes[key] = (self.det_size, max(STRIDE, short))
            else:
                short = math.ceil(self.det_size * width / height / STRIDE) * STRIDE
                self._sizes[key] = (max(STRIDE, short), self.det_size)
        return self._sizes[key]

    def detect(self, frame: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        boxes, kpss = self._scrfd.detect(frame, input_size=self.input_size(frame.shape), max_num=max_faces)
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
