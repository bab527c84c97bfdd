"""The lip-sync model (Wav2Lip contract) applied to the faces of a frame.

Contract (FaceFusion's wav2lip_96 / wav2lip_gan_96 ONNX files): input `source` = the mel window
[1,1,80,16]; input `target` = [1,6,96,96] float 0..1 BGR, channels 0–2 the face crop with its lower
half blacked out, channels 3–5 the same crop whole; output [1,3,96,96] float 0..1 BGR, the face
with the mouth redrawn for that audio. Only the mouth region goes back into the frame, feathered
and scaled by the weight; pixels outside it are never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..align.transform import crop, estimate_similarity
from ..detect.faces import DetectedFace
from ..paste.paste_back import paste_back
from .mel import MEL_STEPS, N_MELS
from .mouth import CROP_SIZE, CROP_TEMPLATE, mouth_blend_mask, smoothed_kps

Frame = np.ndarray
UNCHANGED_LEVELS = 1  # a redrawn mouth within one grey level of the original is left alone


class LipSyncer:
    def __init__(self, model_path: Path, session: ort.InferenceSession) -> None:
        self.model_path = model_path
        self.session = session
        inputs = {tuple(i.shape[1:2]): i for i in session.get_inputs()}
        source, target = inputs.get((1,)), inputs.get((6,))
        if len(session.get_inputs()) != 2 or source is None or target is None:
            shapes = [i.shape for i in session.get_inputs()]
            raise ValueError(f"{model_path.name}: expected a Wav2Lip model (inputs mel [1,1,80,16] and face "
                             f"[1,6,96,96]), found inputs {shapes}")
        self._source_name, self._target_name = source.name, target.name
        self._output_name = session.get_outputs()[0].name

    def sync(self, frame: Frame, faces: Sequence[DetectedFace], mel: np.ndarray, weight: float = 1.0,
             state: dict | None = None, in_place: bool = False) -> Frame:
        """`frame` with each face's mouth redrawn for `mel` (80×16), blended by `weight` (0..1).

        `state` carries the mouth-box smoothing between the frames of one stream (pass the same dict
        for each frame of it). The caller's frame is copied before the first write unless `in_place`."""
        if not faces:
            return frame
        kps_list = smoothed_kps(faces, state)  # advance the smoothing even when nothing is drawn
        if weight <= 0:
            return frame
        mel_blob = np.asarray(mel, np.float32).reshape(1, 1, N_MELS, MEL_STEPS)
        mask = mouth_blend_mask(CROP_SIZE)
        if weight < 1.0:
            mask = mask.scaled(weight)
        out = frame
        for kps in kps_list:
            matrix = estimate_similarity(kps, CROP_TEMPLATE)
            face = crop(frame, matrix, CROP_SIZE)
            redrawn = self._run(face, mel_blob)
            if _unchanged(face, redrawn, mask.support):
                continue  # pasting would only resample pixels the model left as they were
            if out is frame and not in_place:
                out = frame.copy()
            paste_back(out, redrawn, mask, matrix, face)
        return out

    def _run(self, face: np.ndarray, mel_blob: np.ndarray) -> np.ndarray:
        masked = face.copy()
        masked[CROP_SIZE // 2:] = 0
        target = np.concatenate([masked, face], axis=2).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        pred = self.session.run([self._output_name], {self._source_name: mel_blob, self._target_name: target})[0]
        return np.ascontiguousarray(np.clip(pred[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8))

    def warm_up(self) -> None:
        """First runs allocate and tune kernels: pay for that at load, not on the first frame."""
        self._run(np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8), np.zeros((1, 1, N_MELS, MEL_STEPS), np.float32))


def _unchanged(before: np.ndarray, after: np.ndarray, support: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = support
    diff = np.abs(before[y0:y1, x0:x1].astype(np.int16) - after[y0:y1, x0:x1].astype(np.int16))
    return int(diff.max(initial=0)) <= UNCHANGED_LEVELS
