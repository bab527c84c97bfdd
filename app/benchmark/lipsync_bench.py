"""Lip-sync mode: frames per second of `swapcast lipsync` on the kit's sample clip vs a plain
transcode of the same clip on the same timeline (same audio muxed, same encoder), in one run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.base import LoadOptions, SwapContext
from engines.external.inprocess import lip_sync_process
from engines.testing.samples import write_video
from engines.testing.speech import speech_like, write_wav

from app.media.lipsync_video import lip_sync_transcode
from app.media.speech_audio import decode_speech
from app.media.transcode import TranscodeOptions

from .machine import load_engine

SPEECH_BURSTS = ((0.3, 1.2), (1.6, 2.7))  # about 2/3 voiced, as speech is


@dataclass
class LipSyncResult:
    clip: str
    frames: int
    fps: float  # decode → lip sync → encode (with the audio muxed)
    transcode_fps: float  # the same timeline and audio, frames untouched
    ratio: float  # fps / transcode_fps
    encoder: str
    stage_busy_s: dict[str, float]
    live_p50_ms: float | None = None  # audio sample → output frame, from the live benchmark (when present)
    live_p95_ms: float | None = None
    mode: str = "lipsync"

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}


def run_lipsync_benchmark(store, seconds: float, encoder: str, providers: tuple[str, ...] = ("auto",),
                          log: Callable[[str], None] = print) -> LipSyncResult:
    """`seconds` of speech-like audio over the kit's 3 s sample clip (looped when longer), lip sync only."""
    engine = load_engine(store, LoadOptions(providers=providers, load_swapper=False, load_lip_syncer=True), log)
    with tempfile.TemporaryDirectory(prefix="swapcast-bench-lipsync-") as tmp:
        folder = Path(tmp)
        clip, audio = folder / "target.mp4", folder / "speech.wav"
        write_video(clip)
        write_wav(audio, speech_like(seconds, [b for b in SPEECH_BURSTS if b[0] < seconds]))
        options = TranscodeOptions(encoder=encoder)
        plain = lip_sync_transcode(clip, audio, folder / "plain.mp4", lambda frames, _times: list(frames), options)
        log(f"plain transcode (same timeline and audio): {plain.fps:.1f} fps ({plain.encoder})")
        context = SwapContext(swap_faces=False, smoothing=True, on_error="raise", in_place=True)
        process = lip_sync_process(engine, context, decode_speech(audio), 1.0)
        synced = lip_sync_transcode(clip, audio, folder / "synced.mp4", process, options)
        log(f"lip sync: {synced.fps:.1f} fps, {synced.fps / plain.fps:.2f}× the plain transcode's speed")
    engine.release()
    live = _live_latency(store.directory, seconds, log)
    return LipSyncResult(clip=f"kit sample 1280x720 30 fps, {seconds:g} s of speech", frames=synced.frames,
                         fps=round(synced.fps, 2), transcode_fps=round(plain.fps, 2),
                         ratio=round(synced.fps / plain.fps, 3), encoder=synced.encoder,
                         stage_busy_s={k: round(v, 3) for k, v in synced.stage_busy_s.items()},
                         live_p50_ms=round(live.p50_ms, 1) if live else None,
                         live_p95_ms=round(live.p95_ms, 1) if live else None)


def _live_latency(models_dir: Path, seconds: float, log: Callable[[str], None]):
    """The live half (audio sample → output frame, p50/p95) from the live pipeline's own benchmark, in
    builds that have live lip sync; None (said once) in builds without it."""
    try:
        from .lipsync_live import live_latency
    except ImportError:
        log("lip sync live: not in this build (app.benchmark.lipsync_live): no live latency figures")
        return None
    return live_latency(models_dir, seconds, log)
