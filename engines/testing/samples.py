"""Sample media for tests and demos, with ground truth: source faces, target images, a target video.

`write_samples(dir)` writes:
* `source_a.png`, `source_b.png`: one face each (two different identities), plain background;
* `target.png`: one face of a third identity on a busy 1280x720 background;
* `target_two.png`: two faces of two more identities, well apart, on a busy background;
* `target.mp4`: 3 s, 1280x720, 30 fps, H.264 (yuv420p), one face moving left to right across a busy
  background, with an AAC 440 Hz tone (48 kHz, mono);
* `truth.json`: every sample's size, identities, face boxes and keypoints (per frame for the video).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from engines.testing import synthetic_face as sf

SOURCE_A, SOURCE_B = "coral", "lime"
TARGET, TARGET_TWO, VIDEO_FACE = "olive", ("rose", "cocoa"), "amber"
VIDEO_SIZE = (1280, 720)
VIDEO_FPS = 30
VIDEO_SECONDS = 3
AUDIO_RATE = 48000
AUDIO_TONE_HZ = 440.0


@dataclass(frozen=True)
class ImageTruth:
    """One sample image: its file, size (width, height) and faces."""

    file: str
    size: tuple[int, int]
    faces: tuple[sf.FaceTruth, ...]


@dataclass(frozen=True)
class VideoTruth:
    """The sample video: file, size, fps, frame count, audio, and the face in every frame."""

    file: str
    size: tuple[int, int]
    fps: int
    frame_count: int
    audio_rate: int
    audio_tone_hz: float
    frames: tuple[tuple[sf.FaceTruth, ...], ...]


@dataclass(frozen=True)
class SampleSet:
    """What `write_samples` wrote: the folder, each image's truth (by name), the video's."""

    directory: Path
    images: dict[str, ImageTruth] = field(default_factory=dict)
    video: VideoTruth | None = None

    def path(self, name: str) -> Path:
        return self.directory / name

    def to_dict(self) -> dict[str, Any]:
        def image(t: ImageTruth) -> dict[str, Any]:
            return {"file": t.file, "size": list(t.size), "faces": [f.to_dict() for f in t.faces]}

        data: dict[str, Any] = {"images": {name: image(t) for name, t in self.images.items()}}
        if self.video is not None:
            v = self.video
            data["video"] = {"file": v.file, "size": list(v.size), "fps": v.fps, "frame_count": v.frame_count,
                             "audio_rate": v.audio_rate, "audio_tone_hz": v.audio_tone_hz,
                             "frames": [[f.to_dict() for f in faces] for faces in v.frames]}
        return data


def load_truth(directory: Path) -> SampleSet:
    """Reads `truth.json` back into a SampleSet."""
    data = json.loads((directory / "truth.json").read_text(encoding="utf-8"))
    images = {
        name: ImageTruth(file=t["file"], size=(int(t["size"][0]), int(t["size"][1])),
                         faces=tuple(sf.FaceTruth.from_dict(f) for f in t["faces"]))
        for name, t in data["images"].items()
    }
    video = None
    if "video" in data:
        v = data["video"]
        video = VideoTruth(file=v["file"], size=(int(v["size"][0]), int(v["size"][1])), fps=int(v["fps"]),
                           frame_count=int(v["frame_count"]), audio_rate=int(v["audio_rate"]),
                           audio_tone_hz=float(v["audio_tone_hz"]),
                           frames=tuple(tuple(sf.FaceTruth.from_dict(f) for f in faces) for faces in v["frames"]))
    return SampleSet(directory=directory, images=images, video=video)


def _write_image(directory: Path, name: str, frame: np.ndarray, faces: list[sf.FaceTruth]) -> ImageTruth:
    if not cv2.imwrite(str(directory / name), frame):
        raise OSError(f"could not write {directory / name}")
    return ImageTruth(file=name, size=(frame.shape[1], frame.shape[0]), faces=tuple(faces))


def video_face_position(frame_index: int, frame_count: int) -> tuple[tuple[float, float], float]:
    """(centre, height) of the video's face in a frame: left to right, with a gentle bob."""
    t = frame_index / max(frame_count - 1, 1)
    return (300.0 + 680.0 * t, 360.0 + 30.0 * np.sin(2 * np.pi * t)), 300.0


def write_video(path: Path, seed: int = 11) -> VideoTruth:
    """The moving-face H.264 + AAC clip."""
    width, height = VIDEO_SIZE
    frame_count = VIDEO_FPS * VIDEO_SECONDS
    background = sf.busy_background(width, height, seed=seed)
    identity = sf.identity_by_name(VIDEO_FACE)
    frames: list[tuple[sf.FaceTruth, ...]] = []
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "18"}
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index in range(frame_count):
            frame = background.copy()
            center, face_height = video_face_position(index, frame_count)
            frames.append((sf.draw_face(frame, center, face_height, identity),))
            av_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
            av_frame.pts = index
            av_frame.time_base = Fraction(1, VIDEO_FPS)
            container.mux(video.encode(av_frame))
        container.mux(video.encode(None))
        total = AUDIO_RATE * VIDEO_SECONDS
        tone = (0.3 * np.sin(2 * np.pi * AUDIO_TONE_HZ * np.arange(total) / AUDIO_RATE)).astype(np.float32)
        chunk = 1024
        for start in range(0, total, chunk):
            samples = tone[start:start + chunk].reshape(1, -1)
            a_frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            a_frame.sample_rate = AUDIO_RATE
            a_frame.pts = start
            a_frame.time_base = Fraction(1, AUDIO_RATE)
            container.mux(audio.encode(a_frame))
        container.mux(audio.encode(None))
    return VideoTruth(file=path.name, size=VIDEO_SIZE, fps=VIDEO_FPS, frame_count=frame_count,
                      audio_rate=AUDIO_RATE, audio_tone_hz=AUDIO_TONE_HZ, frames=tuple(frames))


def write_samples(directory: Path, video: bool = True) -> SampleSet:
    """Writes every sample (and `truth.json`) into `directory`; returns their truth."""
    directory.mkdir(parents=True, exist_ok=True)
    images: dict[str, ImageTruth] = {}
    for name, identity in (("source_a.png", SOURCE_A), ("source_b.png", SOURCE_B)):
        frame = sf.plain_background(640, 640)
        face = sf.draw_face(frame, (320.0, 330.0), 340.0, sf.identity_by_name(identity))
        images[name] = _write_image(directory, name, frame, [face])

    frame = sf.busy_background(*VIDEO_SIZE, seed=7)
    face = sf.draw_face(frame, (700.0, 360.0), 320.0, sf.identity_by_name(TARGET))
    images["target.png"] = _write_image(directory, "target.png", frame, [face])

    frame = sf.busy_background(*VIDEO_SIZE, seed=9)
    faces = [sf.draw_face(frame, (330.0, 380.0), 280.0, sf.identity_by_name(TARGET_TWO[0])),
             sf.draw_face(frame, (950.0, 340.0), 260.0, sf.identity_by_name(TARGET_TWO[1]))]
    images["target_two.png"] = _write_image(directory, "target_two.png", frame, faces)

    video_truth = write_video(directory / "target.mp4") if video else None
    samples = SampleSet(directory=directory, images=images, video=video_truth)
    (directory / "truth.json").write_text(json.dumps(samples.to_dict(), indent=1), encoding="utf-8")
    return samples
