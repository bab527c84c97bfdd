"""SwapRunner: what a worker runs for each job — every target of the job through the engine manager.

Each target goes to the best available engine for its mode (image_to_image, image_to_video) by the
priorities of integrations.json; the manager retries transient errors and fails over to the next
engine on an engine's own failure. The built-in engine is one of those engines (an in-process
adapter in engines/external/inprocess.py, lent loaded engines and video I/O by app/engine_host).

A bad target does not stop the others: the job finishes what it can and then fails with one line
naming each target that could not be swapped. A problem with the source face, or an output that
cannot be written (disk full, read-only folder), fails the whole job at once, whatever the engine.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engines.errors import InputError, OutputError, SwapCastError, TransientError
from engines.external.base import SwapRequest
from engines.external.config import MemoryStrategy, Mode
from engines.external.errors import SourceError

from app.engine_host import cache as engine_cache
from app.jobs.model import Job, JobSpec
from app.jobs.outputs import TargetPlan, plan_outputs
from app.jobs.runner import JobRunner, ProgressReporter, RunResult
from app.media.probe import probe

log = logging.getLogger(__name__)


class SwapRunner:
    def run(self, job: Job, report: ProgressReporter) -> RunResult:
        if job.spec.remote_inputs() or job.spec.remote_output:
            from .remote_job import RemoteJob  # fetch → render as below → upload

            return RemoteJob(job, report, self._render).run()
        return self._render(job.spec, report)

    def _render(self, spec: JobSpec, report: ProgressReporter) -> RunResult:
        """Every target of `spec` (local paths only) through the engines, written as today (temp + atomic)."""
        inputs = [*spec.sources, *([spec.lip_sync] if spec.lip_sync else [])]
        plans = plan_outputs(spec.targets, spec.output, spec.overwrite, inputs, videos_only=spec.lip_sync is not None)
        failures: list[str] = []
        totals: list[int] = []
        for plan in list(plans):
            try:
                totals.append(_lip_sync_frames(plan, spec) if spec.lip_sync else self._frames(plan, spec.trim))
            except SwapCastError as error:  # unreadable target: report it, swap the others
                if len(spec.targets) == 1:
                    raise
                failures.append(error.one_line())
                plans.remove(plan)
        total = sum(totals)
        report.progress(0, total)
        manager = engine_cache.shared_manager()  # a bad integrations.json fails the job with its one line
        warnings: list[str] = []
        done_before = 0
        try:
            for plan, frames in zip(plans, totals):
                base = done_before

                def relay(done: int, of: int, base: int = base, frames: int = frames) -> None:
                    report.progress(base + _scaled(done, of, frames), total)

                try:
                    outcome = manager.run(_request(spec, plan, frames), relay)
                    warnings += outcome.result.warnings
                    note = outcome.failover_note()
                    if note:
                        warnings.append(f"{plan.target.name}: {note}")
                except (TransientError, SourceError, OutputError):
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
        warnings = _unique(warnings)
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


def runner_factory() -> JobRunner:
    """The RunnerFactory of the real swap: one SwapRunner per worker (engines are shared through
    app.engine_host, so this is cheap). Front ends get it through app.offline.load_runner_factory."""
    return SwapRunner()


def _lip_sync_frames(plan: TargetPlan, spec: JobSpec) -> int:
    """Frames of a lip-synced output: the audio's length on the target's (or a photo's) frame rate."""
    from app.media.lipsync_video import is_photo, plan_timeline
    from app.media.speech_audio import probe_speech

    assert spec.lip_sync is not None
    audio = probe_speech(spec.lip_sync)  # the one-line InputError for a file without sound, up front
    info = None if is_photo(plan.target) else probe(plan.target)
    return plan_timeline(info, audio, spec.fit, spec.still_fps).frames


def _request(spec: JobSpec, plan: TargetPlan, frames: int) -> SwapRequest:
    return SwapRequest(
        sources=tuple(Path(s) for s in spec.sources), target=plan.target, output=plan.output,
        mode=Mode.IMAGE_TO_IMAGE if plan.is_image else Mode.IMAGE_TO_VIDEO, faces=spec.faces,
        reference=Path(spec.reference) if spec.reference else None, source_face=spec.source_face,
        enhance=spec.enhance, enhance_blend=spec.enhance_blend, trim=None if plan.is_image else spec.trim,
        quality=spec.quality, encoder=spec.encoder, audio=spec.audio, overwrite=spec.overwrite, models=spec.models, frames_hint=frames,
        lip_sync=Path(spec.lip_sync) if spec.lip_sync else None, lip_sync_weight=spec.lip_sync_weight, fit=spec.fit,
        still_fps=spec.still_fps,
    )


def _scaled(done: int, of: int, frames: int) -> int:
    """An engine's own count (its frame total may differ from our probe's) → our frames."""
    if of <= 0:
        return 0
    return max(0, min(frames, round(done * frames / of)))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
