"""Helpers of the Ray executor's tests: a small face video with sound and a keyframe every second,
and how to read one back (frames, timestamps, audio samples)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from engines.testing import synthetic_face as sf

FPS = 10


def face_clip(path: Path, seconds: int = 4, size: tuple[int, int] = (640, 360), face: str = "amber") -> Path:
    """H.264 (a keyframe every second, so it splits into `seconds` segments) + AAC; a moving face."""
    width, height = size
    frames = FPS * seconds
    background = sf.busy_background(width, height, seed=3)
    identity = sf.identity_by_name(face)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "18", "g": str(FPS), "keyint_min": str(FPS), "sc_threshold": "0"}
        audio = container.add_stream("aac", rate=48000, layout="mono")
        for index in range(frames):
            frame = background.copy()
            sf.draw_face(frame, (200.0 + 240.0 * index / frames, height / 2), height * 0.6, identity)
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
            picture.pts, picture.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
        total = 48000 * seconds
        tone = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(total) / 48000)).astype(np.float32)
        for start in range(0, total, 1024):
            samples = av.AudioFrame.from_ndarray(tone[start:start + 1024].reshape(1, -1), format="fltp", layout="mono")
            samples.sample_rate, samples.pts, samples.time_base = 48000, start, Fraction(1, 48000)
            container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    return path


def decoded(path: Path) -> tuple[list[Fraction], list[np.ndarray]]:
    """Presentation times (seconds) and BGR frames of the video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [frame.pts * stream.time_base for frame in frames], [frame.to_ndarray(format="bgr24") for frame in frames]


def audio_samples(path: Path) -> int:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0
        return sum(frame.samples for frame in container.decode(container.streams.audio[0]))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * float(np.log10(255.0**2 / max(mse, 1e-12)))
