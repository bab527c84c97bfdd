"""Live lip sync's latency: a real avatar session (the kit's face photo as the camera, a speech-like
WAV file played in real time as the microphone) measured as the session measures itself: from a
sound being heard to the frame that shows it leaving the engine (p50/p95), and how long the video
waited for its audio (the mel window's look-ahead)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.base import LoadOptions
from engines.builtin.engine import BuiltinEngine
from engines.models.store import ModelStore
from engines.testing.speech import speech_like, write_wav

from app.pipeline.api import LiveConfig, SessionState
from app.pipeline.session import LiveSession

Log = Callable[[str], None]

FPS = 30.0
WARMUP_S = 1.0  # the first frames pay for allocations; figures are over the window after this


@dataclass(frozen=True)
class LiveLatency:
    p50_ms: float  # sound heard → its frame out of the engine
    p95_ms: float
    av_delay_ms: float  # how long the video waited for its audio (median)
    fps_out: float
    frames: int

    def as_dict(self) -> dict:
        return {"mode": "lipsync-live", **asdict(self)}


def _bursts(seconds: float) -> list[tuple[float, float]]:
    """Half a second of voice, half a second of silence, over the whole run."""
    return [(start + 0.25, start + 0.75) for start in range(int(seconds) + 1)]


def live_latency(models_dir: Path | None, seconds: float = 5.0, log: Log = lambda line: None) -> LiveLatency:
    """Run an avatar session for `seconds` (after a short warm-up) and return its audio-to-frame
    latency. `models_dir`: a --models folder (the kit), or None for the catalog's models."""
    engine = BuiltinEngine(store=_store(models_dir))
    engine.load(LoadOptions(load_lip_syncer=True, load_swapper=False))
    run_s = seconds + WARMUP_S
    with tempfile.TemporaryDirectory(prefix="swapcast-lipsync-live-") as name:
        folder = Path(name)
        wav = write_wav(folder / "speech.wav", speech_like(run_s + 1.0, _bursts(run_s)))
        photo = _face_photo(models_dir, folder)
        session = LiveSession(LiveConfig(avatar=photo, audio_in=str(wav), fps=FPS, duration_s=run_s), engine=engine)
        log(f"lip sync live: avatar {photo.name}, audio {wav.name} played in real time, {seconds:g} s")
        session.start()
        running = None
        while not session.wait(0.2):  # the session stops itself after run_s
            current = session.stats()
            if current.state is SessionState.RUNNING:
                running = current  # the last reading covers the end of the run (a sliding window)
        final = session.stats()
    if final.state is SessionState.FAILED or running is None:
        raise RuntimeError(f"the lip-sync live session failed: {final.message or 'it never ran'}")
    result = LiveLatency(running.audio_latency_ms_p50, running.audio_latency_ms_p95, running.av_delay_ms,
                         running.fps_out, final.frames)
    log(f"lip sync live: audio→frame p50 {result.p50_ms:.1f} ms, p95 {result.p95_ms:.1f} ms, "
        f"A/V delay {result.av_delay_ms:.1f} ms, {result.fps_out:.1f} fps")
    return result


def _store(models_dir: Path | None) -> ModelStore:
    from app.paths import user_paths

    return ModelStore.resolve(user_paths().models, Path(models_dir) if models_dir else None)


def _face_photo(models_dir: Path | None, folder: Path) -> Path:
    """The kit's sample face when there is one, else a drawn face."""
    sample = Path(models_dir or folder) / "samples" / "target.png"
    if sample.is_file():
        return sample
    from app.benchmark.scenes import source_face_image
    from engines.imaging import write_image_atomic

    path = folder / "face.png"
    write_image_atomic(path, source_face_image())
    return path
