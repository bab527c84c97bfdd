"""SwapRunner: what a worker runs for each job — every target of the job through the engine.

A bad target does not stop the others: the job finishes what it can and then fails with one line
naming each target that could not be swapped.
"""

from __future__ import annotations

import logging

from engines.errors import InputError, SwapCastError, TransientError

from app.jobs.model import Job
from app.jobs.runner import ProgressReporter, RunResult
from app.media.probe import probe
from app.media.transcode import TranscodeOptions

from .context import build_context
from .engine_cache import shared_engine
from .image_swap import swap_image
from .plan import TargetPlan, plan_outputs
from .video_swap import crf_from_quality, swap_video

log = logging.getLogger(__name__)

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
        engine = _guarded(lambda: shared_engine(spec.models))
        warnings: list[str] = []
        context = _guarded(lambda: build_context(engine, spec, warnings))
        options = TranscodeOptions(encoder=spec.encoder, quality=crf_from_quality(spec.quality), audio=spec.audio,
                                   start_s=spec.trim[0] if spec.trim else None,
                                   end_s=spec.trim[1] if spec.trim else None, overwrite=spec.overwrite)
        done_before = 0
        for plan, frames in zip(plans, totals):
            context.stream_state.clear()  # smoothing and counters are per target
            try:
                if plan.is_image:
                    warnings += _guarded(lambda: swap_image(engine, context, plan))
                else:
                    base = done_before
                    _, video_warnings = _guarded(lambda: swap_video(
                        engine, context, plan, options, lambda d: report.progress(base + d, total)))
                    warnings += video_warnings
            except TransientError:
                raise
            except SwapCastError as error:
                if len(plans) == 1:
                    raise
                failures.append(error.one_line())
            done_before += frames
            report.progress(done_before, total)
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


def _guarded(work):
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
