"""Video mode: swap throughput vs a plain decode → encode of the same clip, same encoder settings."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.base import LoadOptions, SwapContext
from engines.imaging import write_image_atomic

from app.media.transcode import TranscodeOptions, identity, transcode

from .machine import load_engine
from .scenes import SIZES, source_face_image, write_benchmark_clip


@dataclass
class VideoResult:
    size: str
    frames: int
    fps: float  # decode → swap → encode
    transcode_fps: float  # decode → encode, nothing else
    ratio: float  # fps / transcode_fps: 1.0 would mean the swap costs nothing
    encoder: str
    stage_busy_s: dict[str, float]
    mode: str = "video"

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}


def run_video_benchmark(store, size: str, frames: int, encoder: str, providers: tuple[str, ...] = ("auto",),
                        swapper_id: str | None = None, detector_id: str | None = None,
                        log: Callable[[str], None] = print) -> VideoResult:
    engine = load_engine(store, LoadOptions(providers=providers, swapper_id=swapper_id, detector_id=detector_id), log)
    with tempfile.TemporaryDirectory(prefix="swapcast-bench-video-") as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        log(f"writing a {size} clip of {frames} frames")
        write_benchmark_clip(clip, SIZES[size], frames)
        source = folder / "source.png"
        write_image_atomic(source, source_face_image())
        context = SwapContext(identities=[engine.identity([source])], smoothing=True, on_error="raise", in_place=True)
        options = TranscodeOptions(encoder=encoder)
        plain = transcode(clip, folder / "plain.mp4", identity, options)
        log(f"plain transcode: {plain.fps:.1f} fps ({plain.encoder})")
        swapped = transcode(clip, folder / "swapped.mp4", lambda batch: engine.process_batch(batch, context), options)
        log(f"swap: {swapped.fps:.1f} fps, {swapped.fps / plain.fps:.2f}× the plain transcode's speed")
    engine.release()
    return VideoResult(size=size, frames=swapped.frames, fps=round(swapped.fps, 2),
                       transcode_fps=round(plain.fps, 2), ratio=round(swapped.fps / plain.fps, 3),
                       encoder=swapped.encoder, stage_busy_s={k: round(v, 3) for k, v in swapped.stage_busy_s.items()})
