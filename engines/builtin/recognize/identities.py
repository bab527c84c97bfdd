"""Source photos → identities. Embeddings are cached by the file's content hash."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.base import Identity
from engines.errors import InputError
from engines.imaging import read_image

from ..detect.detector import FaceDetector
from .recognizer import FaceRecognizer


@dataclass(frozen=True)
class SourceFace:
    embedding: np.ndarray
    faces_found: int


class IdentityBuilder:
    def __init__(self, detector: FaceDetector, recognizer: FaceRecognizer) -> None:
        self._detector = detector
        self._recognizer = recognizer
        self._cache: dict[tuple[str, int | None], SourceFace] = {}
        self._lock = threading.Lock()

    def face_in(self, path: Path, face_index: int | None = None) -> SourceFace:
        """The embedding of one face in a photo: the largest, unless face_index picks one (left to right)."""
        path = Path(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else str(path)
        key = (digest, face_index)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        image = read_image(path)  # raises the one-line error for missing/empty/corrupt files
        faces = self._detector.detect(image)
        if not faces:
            raise InputError(f"no face found in {path}", "use a clear, front-facing photo of one face")
        if face_index is None:
            chosen = max(faces, key=lambda f: f.area)
        else:
            ordered = sorted(faces, key=lambda f: f.center_x)
            if not 0 <= face_index < len(ordered):
                raise InputError(f"{path} has {len(ordered)} face(s); face {face_index} does not exist",
                                 f"pick a face between 0 and {len(ordered) - 1}")
            chosen = ordered[face_index]
        embedding = self._recognizer.embed(image, [chosen.kps])[0]
        result = SourceFace(embedding=embedding, faces_found=len(faces))
        with self._lock:
            self._cache[key] = result
        return result

    def identity(self, paths: Sequence[Path], name: str | None = None, face_index: int | None = None) -> Identity:
        """Several photos of one person averaged into one identity."""
        if not paths:
            raise InputError("no source photo given", "pass at least one -s SOURCE")
        faces = [self.face_in(Path(p), face_index) for p in paths]
        mean = np.mean([f.embedding for f in faces], axis=0)
        mean = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return Identity(
            name=name or Path(paths[0]).stem,
            embedding=mean,
            sources=tuple(str(p) for p in paths),
            faces_in_sources=tuple(f.faces_found for f in faces),
        )
