"""`swapcast benchmark --offline --actors 1,2`: the same video job on 1, 2, … Ray actors in one run.

Each run goes through the real path (queue → RayExecutor → segments on actors → join), on one local
Ray instance, after every actor has loaded the engine (a warm-up image each), so the figures are the
job's, not the start-up's. Where the time goes: split and join (wall, on this machine), the object-store
puts, the actors' decode+swap+encode (summed over tasks) and what each task cost beyond it (transfer).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.imaging import write_image_atomic

from app.cluster.connect import connect, disconnect, import_ray
from app.cluster.ray_executor import RayExecutor
from app.cluster.tasks import SwapTask
from app.jobs.model import JobSpec, JobState
from app.jobs.store import JobStore

from .scenes import SIZES, benchmark_frame, source_face_image, write_benchmark_clip

FPS = 30


@dataclass
class ScaleResult:
    actors: int
    frames: int
    segments: int
    seconds: float  # the job's wall time, claim to COMPLETED
    fps: float
    speedup: float  # fps / the first run's fps
    split_s: float
    put_s: float
    transfer_s: float  # summed over tasks
    swap_s: float  # summed over tasks (÷ actors ≈ wall)
    join_s: float
    mode: str = "offline-scale"

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}


def run_scale_benchmark(actor_counts: Sequence[int], size: str, frames: int, segment_seconds: float,
                        models: str | None, log: Callable[[str], None] = print) -> list[ScaleResult]:
    info = connect(None)
    log(info.describe())
    results: list[ScaleResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="swapcast-bench-scale-") as tmp:
            folder = Path(tmp)
            clip, source, still = folder / "clip.mp4", folder / "source.png", folder / "still.png"
            log(f"writing a {size} clip of {frames} frames (a keyframe every second)")
            write_benchmark_clip(clip, SIZES[size], frames, FPS, keyframe_every=FPS)
            write_image_atomic(source, source_face_image())
            write_image_atomic(still, benchmark_frame((640, 360), 1))
            for count in actor_counts:
                result = _one_run(folder, count, clip, source, still, frames, segment_seconds, models)
                result.speedup = round(result.fps / results[0].fps, 3) if results else 1.0
                results.append(result)
                log(f"{count} actor{'s' if count != 1 else ''}: {result.fps:.1f} fps ({result.seconds:.1f} s, "
                    f"{result.segments} segments), {result.speedup:.2f}× the first")
    finally:
        disconnect(info)
    return results


def _one_run(folder: Path, count: int, clip: Path, source: Path, still: Path, frames: int,
             segment_seconds: float, models: str | None) -> ScaleResult:
    ray = import_ray()
    store = JobStore(folder / f"jobs-{count}.db")
    spec = JobSpec(sources=[str(source)], targets=[str(clip)], output=str(folder / f"out-{count}.mp4"), models=models)
    with RayExecutor(store, actors=count, segment_seconds=segment_seconds) as executor:
        executor.pool.wait_ready()
        warm = SwapTask("warm-up", 0, JobSpec(sources=["source.png"], targets=["still.png"], output="still.png",
                                              models=models))
        ray.get([actor.swap.remote(warm, {"source.png": source.read_bytes()}, still.read_bytes())
                 for actor in executor.pool.actors])  # every actor loads the engine before the clock starts
        job = store.add(spec)
        started = time.perf_counter()
        executor.start(job_ids=[job.id])
        executor.join()
        seconds = time.perf_counter() - started
        stages = executor.stages
    settled = store.get(job.id)
    store.close()
    if settled.state is not JobState.COMPLETED:
        raise RuntimeError(f"the benchmark job ended {settled.state}: {settled.error}")
    return ScaleResult(actors=count, frames=frames, segments=stages.tasks, seconds=round(seconds, 3),
                       fps=round(frames / seconds, 2), speedup=1.0, split_s=round(stages.split_s, 3),
                       put_s=round(stages.put_s, 3), transfer_s=round(stages.transfer_s, 3),
                       swap_s=round(stages.swap_s, 3), join_s=round(stages.join_s, 3))


def table(results: Sequence[ScaleResult]) -> str:
    header = ("actors", "fps", "speed-up", "wall s", "segments", "split s", "put s", "transfer s (Σ)", "swap s (Σ)",
              "join s")
    rows = [header] + [(str(r.actors), f"{r.fps:.1f}", f"{r.speedup:.2f}×", f"{r.seconds:.2f}", str(r.segments),
                        f"{r.split_s:.2f}", f"{r.put_s:.3f}", f"{r.transfer_s:.2f}", f"{r.swap_s:.2f}",
                        f"{r.join_s:.2f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)
