"""Frame mode: one frame through our engine vs the reference path, same models, same frame."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


from engines.base import FaceSelection, LoadOptions, SwapContext
from engines.imaging import write_image_atomic

from .machine import load_engine
from .scenes import SIZES, benchmark_frame, source_face_image

Log = Callable[[str], None]


@dataclass
class FrameResult:
    size: str
    faces: int
    ours_ms: float
    reference_ms: float | None
    speedup: float | None
    stages_ms: dict[str, float]  # per frame, mean
    align_paste_per_face_ms: float
    mode: str = "frame"

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}


def _time_ms(fn: Callable[[], object], iterations: int) -> float:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def run_frame_benchmark(store, sizes: Sequence[str], faces: int, iterations: int, reference: bool,
                        providers: tuple[str, ...] = ("auto",), swapper_id: str | None = None,
                        detector_id: str | None = None, log: Log = print) -> list[FrameResult]:
    engine = load_engine(store, LoadOptions(providers=providers, swapper_id=swapper_id, detector_id=detector_id), log)
    with tempfile.TemporaryDirectory(prefix="swapcast-bench-") as tmp:
        source_path = Path(tmp) / "source.png"
        source_image = source_face_image()
        write_image_atomic(source_path, source_image)
        identity = engine.identity([source_path])
        # in_place: as in the live and video pipelines, which own their frames (the same frame is
        # swapped again each run, which costs the same).
        context = SwapContext(identities=[identity], in_place=True,
                              selection=FaceSelection.ALL if faces > 1 else FaceSelection.LARGEST)
        ref = None
        if reference:
            from .reference import ReferencePipeline

            spec = engine.health()
            ids = {m.role: m.model_id for m in spec.models}
            provider_names = [m.provider for m in spec.models][:1] or ["CPUExecutionProvider"]
            ref = ReferencePipeline(store.require(ids["detector"]), store.require(ids["recognizer"]),
                                    store.require(ids["swapper"]),
                                    list(dict.fromkeys([*provider_names, "CPUExecutionProvider"])), 640)
            ref_source = ref.source_face(source_image)
        results = []
        for size in sizes:
            frame = benchmark_frame(SIZES[size], faces)
            found = len(engine.faces(frame))
            if found != faces:
                log(f"warning: {size}: the detector found {found} faces, expected {faces}")
            for _ in range(3):
                engine.process(frame, context)
            engine.timer.reset()
            ours = _time_ms(lambda: engine.process(frame, context), iterations)
            stages = engine.timer.means()
            ref_ms = None
            if ref is not None:
                ref.process(frame, ref_source)
                ref_ms = _time_ms(lambda: ref.process(frame, ref_source), max(3, iterations // 4))
            per_face = (stages.get("align", 0.0) + stages.get("paste", 0.0)) / max(1, found)
            result = FrameResult(size=size, faces=faces, ours_ms=round(ours, 3),
                                 reference_ms=None if ref_ms is None else round(ref_ms, 3),
                                 speedup=None if ref_ms is None else round(ref_ms / ours, 2),
                                 stages_ms={k: round(v, 3) for k, v in stages.items()},
                                 align_paste_per_face_ms=round(per_face, 3))
            log(f"{size} {faces} face(s): ours {result.ours_ms:.1f} ms"
                + (f", reference {result.reference_ms:.1f} ms, ×{result.speedup}" if ref_ms else "")
                + f", align+paste {per_face:.2f} ms/face")
            results.append(result)
        if ref is not None:
            ref.close()
    engine.release()
    return results
