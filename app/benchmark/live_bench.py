"""Live mode: a real LiveSession on a generated clip played as a camera (30 fps, looped), measured
like a viewer sees it: capture → output latency p50/p95, sustained fps, drops, and where the time
goes per frame (each stage's share)."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engines.base import LoadOptions
from engines.builtin.engine import BuiltinEngine
from engines.imaging import write_image_atomic

from app.pipeline.api import LiveConfig, SessionState
from app.pipeline.frame import now
from app.pipeline.session import LiveSession
from app.pipeline.stats import percentile

from .scenes import SIZES, source_face_image, write_benchmark_clip

Log = Callable[[str], None]

CLIP_FPS = 30
CLIP_FRAMES = 90  # 3 s, looped
WARMUP_S = 1.5  # first frames pay for allocations; measured after this
# Stages that are work done for a frame (not waiting); their shares add up to 1.
ENGINE_STAGES = ("detect", "recognize", "align", "swap", "paste", "enhance")
EXTRA_OUTPUTS = ("stream", "record")


@dataclass
class LiveResult:
    size: str
    target_fps: float
    seconds: float  # measured window (after warm-up)
    fps_in: float  # frames the camera delivered per second
    fps_out: float  # frames that reached the output per second
    sustained: bool  # fps_out kept up with the camera (≥ 95 %)
    latency_ms_p50: float  # capture → output (the preview sink), as a viewer sees it
    latency_ms_p95: float
    dropped: int  # stale frames dropped at capture in the window
    frames: int  # frames out in the window
    stages_ms: dict[str, float]  # per frame, recent means
    stage_share: dict[str, float]  # each work stage's share of a frame's work
    outputs: list[str] = field(default_factory=list)
    mode: str = "live"

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}


class _Sink:
    """The output the benchmark watches: capture → arrival latency of every frame."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[tuple[float, float]] = []

    def __call__(self, image, captured_at: float) -> None:
        arrived = now()
        with self.lock:
            self.samples.append((arrived, (arrived - captured_at) * 1000.0))

    def window(self, start: float) -> list[float]:
        with self.lock:
            return [ms for at, ms in self.samples if at >= start]


def stage_shares(stages: dict[str, float]) -> dict[str, float]:
    """Work per frame split by stage: capture (decode), mirror, the engine's stages, the rest of
    `process` (the engine's own overhead) and each output's send."""
    work: dict[str, float] = {}
    for name in ("capture", "mirror", *ENGINE_STAGES):
        if stages.get(name):
            work[name] = stages[name]
    engine_sum = sum(stages.get(name, 0.0) for name in ENGINE_STAGES)
    if stages.get("process"):
        work["engine other"] = max(0.0, stages["process"] - engine_sum)
    for name, ms in stages.items():
        if name.startswith("out:") and ms:
            work[name] = ms
    total = sum(work.values())
    return {name: round(ms / total, 3) for name, ms in work.items()} if total else {}


def run_live_benchmark(store, sizes: Sequence[str], seconds: float = 6.0, outputs: Sequence[str] = (),
                       providers: tuple[str, ...] = ("auto",), swapper_id: str | None = None,
                       detector_id: str | None = None, log: Log = print) -> list[LiveResult]:
    engine = BuiltinEngine(store=store)
    engine.load(LoadOptions(providers=providers, swapper_id=swapper_id, detector_id=detector_id))
    results: list[LiveResult] = []
    with tempfile.TemporaryDirectory(prefix="swapcast-bench-live-") as tmp:
        folder = Path(tmp)
        source = folder / "source.png"
        write_image_atomic(source, source_face_image())
        for size in sizes:
            clip = folder / f"clip-{size}.mp4"
            log(f"live {size}: writing a {CLIP_FRAMES}-frame {CLIP_FPS} fps clip")
            write_benchmark_clip(clip, SIZES[size], CLIP_FRAMES, CLIP_FPS)
            results.append(_run_one(engine, size, clip, source, folder, seconds, outputs, log))
    engine.release()
    return results


def _run_one(engine: BuiltinEngine, size: str, clip: Path, source: Path, folder: Path, seconds: float,
             outputs: Sequence[str], log: Log) -> LiveResult:
    config = LiveConfig(
        sources=(source,), camera=str(clip), size=None, fps=CLIP_FPS,
        # Extra outputs load the machine as a real session would (an x264 stream, a recording).
        stream_url="udp://127.0.0.1:9" if "stream" in outputs else None,  # discard port: nobody needs to listen
        record_path=folder / f"record-{size}.mp4" if "record" in outputs else None,
    )
    sink = _Sink()
    session = LiveSession(config, engine)
    session.add_preview_listener(sink)
    session.start()
    try:
        deadline = time.monotonic() + 30
        while session.state is SessionState.STARTING and time.monotonic() < deadline:
            time.sleep(0.02)
        if session.state is not SessionState.RUNNING:
            raise RuntimeError(f"live session did not start: {session.stats().message}")
        time.sleep(WARMUP_S)
        start, before = now(), session.stats()
        time.sleep(seconds)
        end, after = now(), session.stats()
    finally:
        session.stop(timeout=30)
    latencies = sorted(sink.window(start))
    span = end - start
    captured = (after.frames - before.frames) + (after.dropped - before.dropped)
    fps_out = len(latencies) / span
    stages = dict(after.stages_ms)
    result = LiveResult(
        size=size, target_fps=float(CLIP_FPS), seconds=round(span, 2), fps_in=round(captured / span, 2),
        fps_out=round(fps_out, 2), sustained=fps_out >= 0.95 * CLIP_FPS,
        latency_ms_p50=round(percentile(latencies, 0.5), 2), latency_ms_p95=round(percentile(latencies, 0.95), 2),
        dropped=after.dropped - before.dropped, frames=len(latencies), stages_ms=stages,
        stage_share=stage_shares(stages), outputs=["preview"] + list(outputs),
    )
    top = ", ".join(f"{k} {v:.0%}" for k, v in sorted(result.stage_share.items(), key=lambda kv: -kv[1])[:4])
    log(f"live {size}@{CLIP_FPS}: {result.fps_out:.1f} fps out of {result.fps_in:.1f}, latency p50 "
        f"{result.latency_ms_p50:.1f} ms p95 {result.latency_ms_p95:.1f} ms, dropped {result.dropped} ({top})")
    return result
