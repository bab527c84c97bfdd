"""Small synthetic clips made with PyAV: test media for the media tests and a known input for
`swapcast benchmark --video`, so neither needs a video file shipped or downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

RECT_COLOR = (0, 0, 255)  # BGR red: easy to find again after a lossy round trip


@dataclass(frozen=True)
class SynthClip:
    path: Path
    pts: list[int]  # presentation timestamps written, in `time_base`
    time_base: Fraction
    width: int
    height: int
    audio_seconds: float  # 0.0 without a sound track


def moving_rectangle(index: int, width: int, height: int) -> np.ndarray:
    """A grey gradient with a red rectangle that moves one step right per frame."""
    ramp = np.linspace(40, 200, width, dtype=np.float32)
    image = np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2).astype(np.uint8)
    box_w, box_h = max(2, width // 6), max(2, height // 5)
    x = (index * max(1, width // 64)) % max(1, width - box_w)
    y = height // 3
    image[y : y + box_h, x : x + box_w] = RECT_COLOR
    return image


def _intervals(frames: int, step: int, vfr: bool) -> list[int]:
    # Irregular on purpose: runs of normal frames, then a long gap and a short one (like a phone
    # that drops its rate in low light).
    pattern = [step, step, 2 * step + step // 3, step // 2] if vfr else [step]
    return [pattern[i % len(pattern)] for i in range(frames)]


def make_clip(
    path: str | Path,
    *,
    frames: int = 30,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    time_base: Fraction = Fraction(1, 15360),
    audio: str | None = None,  # e.g. "aac", "pcm_s16le", "pcm_alaw"; None: no sound
    audio_rate: int = 48000,
    rotation: int | None = None,  # counter-clockwise degrees stored in the display matrix
    legacy_rotate_tag: int | None = None,  # the old clockwise "rotate" stream tag instead
    vfr: bool = False,
    pts: Sequence[int] | None = None,  # explicit timestamps (overrides fps/vfr)
    options: dict[str, str] | None = None,
) -> SynthClip:
    path = Path(path)
    step = int(round(1 / (fps * time_base)))
    if pts is None:
        stamps, t = [], 0
        for gap in _intervals(frames, step, vfr):
            stamps.append(t)
            t += gap
        end_pts = t
    else:
        stamps = list(pts)
        end_pts = stamps[-1] + step
    out: Any = av.open(str(path), mode="w")
    try:
        video: Any = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = time_base  # keep our timestamps exactly
        video.time_base = time_base
        default = {"preset": "ultrafast"} if codec == "libx264" else {}  # tiny clips, made fast
        video.options = dict(options if options is not None else default)
        if rotation is not None:
            video.set_display_rotation(rotation)
        if legacy_rotate_tag is not None:
            video.metadata["rotate"] = str(legacy_rotate_tag)
        sound: Any = None
        if audio:
            sound = out.add_stream(audio, rate=audio_rate)
            sound.layout = "mono"
        for index, stamp in enumerate(stamps):
            frame = av.VideoFrame.from_ndarray(moving_rectangle(index, width, height), format="bgr24")
            frame.pts, frame.time_base = stamp, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = float(end_pts * time_base) if sound is not None else 0.0
        if sound is not None:
            total = int(round(seconds * audio_rate))
            t = np.arange(total) / audio_rate
            wave = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            chunk = 1024
            for start in range(0, total, chunk):
                piece = wave[start : start + chunk][None, :]
                samples = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                samples.sample_rate = audio_rate
                samples.pts, samples.time_base = start, Fraction(1, audio_rate)
                out.mux(sound.encode(samples))
            out.mux(sound.encode(None))
    finally:
        out.close()
    return SynthClip(path, stamps, time_base, width, height, seconds)
