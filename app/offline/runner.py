"""SwapRunner: what a worker runs for each job — every target of the job through the engine manager.

Each target goes to the best available engine for its mode (image_to_image, image_to_video) by the
priorities of integrations.json; the manager retries transient errors and fails over to the next
engine on an engine's own failure. The built-in engine runs here, through BuiltinHost.

A bad target does not stop the others: the job finishes what it can and then fails with one line
naming each target that could not be swapped. A problem with the source face fails the whole job
at once, whatever the engine.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engines.base import SwapContext
from engines.errors import InputError, SwapCastError, TransientError
from engines.external.base import ProgressCallback, SwapRequest, SwapResult
from engines.external.config import MemoryStrategy, Mode
from engines.external.errors import SourceError
from engines.external.inprocess import InProcessAdapter

from app.jobs.model import Job, JobSpec
from app.jobs.runner import ProgressReporter, RunResult
from app.media.probe import probe
from app.media.transcode import TranscodeOptions

from . import engine_cache
from .context import build_context
from .image_swap import swap_image
from .plan import TargetPlan, plan_outputs
from .video_swap import crf_from_quality, swap_video

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_MARKERS = ("out of memory", "failed to allocate", "cudaerrormemoryallocation", "resource busy")


class SwapRunner:
    def run(self, job: Job, report: ProgressReporter) -> RunResult:
        spec = job.spec
        plans = plan_outputs(spec.targets, spec.output, spec.overwrite)
        failures: list[str] = []
        totals: list[int] = []
        for plan in list(plans):
            try:
                totals.append(self._frames(plan, spec.trim))
            except SwapCastError as error:  # unreadable target: report it, swap the others
                if len(spec.targets) == 1:
                    raise
                failures.append(error.one_line())
                plans.remove(plan)
        total = sum(totals)
        report.progress(0, total)
        manager = engine_cache.shared_manager()  # a bad integrations.json fails the job with its one line
        host = BuiltinHost(spec)
        warnings: list[str] = []
        done_before = 0
        try:
            for plan, frames in zip(plans, totals):
                base = done_before

                def relay(done: int, of: int, base: int = base, frames: int = frames) -> None:
                    report.progress(base + _scaled(done, of, frames), total)

                try:
                    outcome = manager.run(_request(spec, plan, frames), relay, host)
                    warnings += outcome.result.warnings
                    note = outcome.failover_note()
                    if note:
                        warnings.append(f"{plan.target.name}: {note}")
                except (TransientError, SourceError):
                    raise  # retried by the queue / the same for every target
                except SwapCastError as error:
                    if len(plans) == 1:
                        raise
                    failures.append(error.one_line())
                done_before += frames
                report.progress(done_before, total)
        finally:
            if manager.config.memory_strategy is MemoryStrategy.RELEASE_AFTER_JOB:
                engine_cache.release_all()
        warnings = _unique(host.warnings + warnings)
        for warning in warnings:
            report.warn(warning)
        if failures:
            raise InputError(f"{len(failures)} of {len(spec.targets)} targets failed: " + "; ".join(failures))
        output = str(plans[0].output) if len(plans) == 1 else spec.output
        return RunResult(output=output, warnings=warnings)

    @staticmethod
    def _frames(plan: TargetPlan, trim: tuple[float, float] | None) -> int:
        if plan.is_image:
            return 1
        info = probe(plan.target)  # raises the one-line InputError for bad files up front
        if trim and info.fps:
            start, end = trim
            end = min(end, info.duration_s or end)
            return max(1, round((end - start) * info.fps))
        return max(1, info.frame_count)


class BuiltinHost:
    """Runs targets through the built-in engine (any profile) for one job.

    The swap context (source identities, face policy) is built once per engine profile and job;
    a source problem raises SourceError, which fails the job whatever the target.
    """

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.warnings: list[str] = []
        self._contexts: dict[str, SwapContext] = {}

    def run_in_process(self, adapter: InProcessAdapter, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        options = adapter.load_options(engine_cache.base_options(request.models))
        engine = _guarded(lambda: engine_cache.shared_engine(request.models, options, owner=adapter.name))
        context = self._contexts.get(adapter.name)
        if context is None:
            enhance = self.spec.enhance and adapter.allows_enhance
            if self.spec.enhance and not enhance:
                self.warnings.append(f"{adapter.name} has no enhancer: --enhance was ignored")
            spec = dataclasses.replace(self.spec, enhance=enhance)
            try:
                context = _guarded(lambda: build_context(engine, spec, self.warnings))
            except InputError as error:
                raise SourceError(error.problem, error.fix) from error
            self._contexts[adapter.name] = context
        context.stream_state.clear()  # smoothing and counters are per target
        plan = TargetPlan(request.target, request.output, request.mode is Mode.IMAGE_TO_IMAGE)
        if plan.is_image:
            warnings = _guarded(lambda: swap_image(engine, context, plan))
            progress(1, 1)
            return SwapResult(request.output, adapter.name, 1, tuple(warnings))
        transcode_options = TranscodeOptions(encoder=request.encoder, quality=crf_from_quality(request.quality),
                                              audio=request.audio, start_s=request.trim[0] if request.trim else None,
                                              end_s=request.trim[1] if request.trim else None, overwrite=request.overwrite)
        expected = max(1, request.frames_hint)
        result, warnings = _guarded(lambda: swap_video(engine, context, plan, transcode_options,
                                                       lambda done: progress(done, max(expected, done))))
        return SwapResult(request.output, adapter.name, result.frames, tuple(warnings))


def _request(spec: JobSpec, plan: TargetPlan, frames: int) -> SwapRequest:
    return SwapRequest(
        sources=tuple(Path(s) for s in spec.sources), target=plan.target, output=plan.output,
        mode=Mode.IMAGE_TO_IMAGE if plan.is_image else Mode.IMAGE_TO_VIDEO, faces=spec.faces,
        reference=Path(spec.reference) if spec.reference else None, source_face=spec.source_face,
        enhance=spec.enhance, trim=None if plan.is_image else spec.trim, quality=spec.quality,
        encoder=spec.encoder, audio=spec.audio, overwrite=spec.overwrite, models=spec.models, frames_hint=frames,
    )


def _scaled(done: int, of: int, frames: int) -> int:
    """An engine's own count (its frame total may differ from our probe's) → our frames."""
    if of <= 0:
        return 0
    return max(0, min(frames, round(done * frames / of)))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _guarded(work: Callable[[], T]) -> T:
    """Engine and runtime failures → the job's error classes (transient ones are retried)."""
    try:
        return work()
    except SwapCastError:
        raise
    except (MemoryError, BlockingIOError) as error:
        raise TransientError(f"temporarily out of resources: {error}", "the job will be retried") from error
    except Exception as error:  # noqa: BLE001 — classify onnxruntime's untyped errors by their text
        text = str(error)
        if any(marker in text.lower() for marker in TRANSIENT_MARKERS):
            raise TransientError(f"temporarily out of resources: {text.splitlines()[0]}",
                                 "the job will be retried") from error
        raise
