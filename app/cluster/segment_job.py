"""RayJobRunner: the JobRunner a worker gets from `swapcast worker --ray` — a job's targets on the actors.

The worker here claimed the job (lease, heartbeats, final state: app.jobs as always); this runner only
decides where frames are swapped. Each image or short video is one task; a long video is split at
keyframes into segments of about `segment_seconds` (app.media.segments, packet copy), one task each,
and joined here with the original's timestamps and audio. Results land under the job's folder
(JobStore.job_folder) as they arrive, written atomically, so a restarted worker resumes: segments
already swapped are not sent again. Outputs are written here, atomically; the folder goes on success.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engines.errors import InputError, SwapCastError, TransientError

from app.jobs.model import Job, JobSpec
from app.jobs.outputs import TargetPlan, plan_outputs
from app.jobs.runner import ProgressReporter, RunResult
from app.media.output import discard, reserve_temp
from app.offline.remote_job import RemoteJob
from app.offline.runner import SwapRunner

from .connect import import_ray
from .pool import ActorPool, Dispatch
from .progress import TaskProgress
from .stages import StageTimes
from .tasks import FailureKind, SwapTask, TaskOutcome

if TYPE_CHECKING:
    from app.media.segments import Segment

DEFAULT_SEGMENT_S = 10.0
WHOLE = "whole"
_JOB_FAILS = (FailureKind.TRANSIENT, FailureKind.SOURCE, FailureKind.OUTPUT)  # whatever the target


@dataclass
class _Target:
    index: int
    plan: TargetPlan
    folder: Path  # segments/ and swapped/ of this target, under the job's folder
    segments: list[Segment] = field(default_factory=list)  # empty: one task for the whole target
    failed: bool = False

    def key(self, name: str) -> str:
        return f"{self.index}/{name}"

    def swapped(self, segment: Segment) -> Path:
        return self.folder / "swapped" / segment.path.name


class RayJobRunner:
    def __init__(self, pool: ActorPool, segment_seconds: float = DEFAULT_SEGMENT_S,
                 stages: StageTimes | None = None) -> None:
        self.pool = pool
        self.segment_seconds = segment_seconds
        self.stages = stages or StageTimes()

    def run(self, job: Job, report: ProgressReporter) -> RunResult:
        folder = _job_folder(job, report)
        if job.spec.remote_inputs() or job.spec.remote_output:
            return RemoteJob(job, report, lambda spec, inner: _Run(self, job.id, spec, inner, folder).render()).run()
        return _Run(self, job.id, job.spec, report, folder).render()


class _Run:
    """One attempt at one job: prepare the targets, run their tasks, write and join the results."""

    def __init__(self, runner: RayJobRunner, job_id: int, spec: JobSpec, report: ProgressReporter, folder: Path) -> None:
        self.runner = runner
        self.job_id = job_id
        self.spec = spec
        self.report = report
        self.folder = folder
        self.progress = TaskProgress()
        self.warnings: list[str] = []
        self.failures: list[str] = []
        self.targets: list[_Target] = []
        self.names: dict[str, str] = {}  # task file names → the user's paths
        self.dispatch: Dispatch | None = None

    def render(self) -> RunResult:
        ray = import_ray()
        plans = plan_outputs(self.spec.targets, self.spec.output, self.spec.overwrite, self.spec.sources)
        _forget_other_specs(self.folder, self.spec)
        for index, plan in enumerate(plans):
            try:
                self.targets.append(self._prepare(index, plan))
            except SwapCastError as error:  # unreadable target: report it, swap the others
                if len(self.spec.targets) == 1:
                    raise
                self.failures.append(error.one_line())
        task_spec, inputs, self.names = _shared_inputs(self.spec)
        started = time.perf_counter()
        inputs_ref = ray.put(inputs)
        self.runner.stages.add(put_s=time.perf_counter() - started)
        self.dispatch = dispatch = Dispatch(self.runner.pool, inputs_ref, self.progress, self.runner.stages)
        for target in self.targets:
            for task, path in self._tasks(target, task_spec):
                dispatch.add(task, path)
        self._tick()
        dispatch.run(self._settle, self._tick)
        for target in self.targets:
            if target.segments and not target.failed:
                self._join(target)
        if self.failures:
            raise InputError(f"{len(self.failures)} of {len(self.spec.targets)} targets failed: " + "; ".join(self.failures))
        shutil.rmtree(self.folder / "ray", ignore_errors=True)
        _remove_if_empty(self.folder)
        for warning in _unique(self.warnings):
            self.report.warn(warning)
        output = str(plans[0].output) if len(plans) == 1 else self.spec.output
        return RunResult(output=output, warnings=_unique(self.warnings))

    # --- preparing ----------------------------------------------------------------------------------

    def _prepare(self, index: int, plan: TargetPlan) -> _Target:
        target = _Target(index, plan, self.folder / "ray" / f"target-{index}")
        frames = SwapRunner._frames(plan, self.spec.trim)  # the one-line InputError for a bad file
        if plan.is_image or self.spec.trim is not None:  # a trimmed video: one task (the segments cover whole files)
            self.progress.expect(target.key(WHOLE), frames)
            return target
        from app.media.segments import plan_segments, split_video

        if len(plan_segments(plan.target, self.runner.segment_seconds)) < 2:
            self.progress.expect(target.key(WHOLE), frames)
            return target
        started = time.perf_counter()
        segments = split_video(plan.target, self.runner.segment_seconds, target.folder / "segments")
        self.runner.stages.add(split_s=time.perf_counter() - started)
        (target.folder / "swapped").mkdir(parents=True, exist_ok=True)
        target.segments = segments
        resumed = 0
        for segment in segments:
            key = target.key(segment.path.name)
            self.progress.expect(key, segment.plan.frames)
            if _complete(target.swapped(segment), segment):  # by an earlier attempt: not redone
                self.progress.finish(key)
                resumed += 1
        if resumed:
            self.warnings.append(f"{plan.target.name}: {resumed} of {len(segments)} segments were already "
                                 "swapped by an earlier attempt and were reused")
        return target

    def _tasks(self, target: _Target, task_spec: JobSpec) -> list[tuple[SwapTask, Path]]:
        plan = target.plan
        if not target.segments:
            spec = dataclasses.replace(task_spec, targets=[plan.target.name], output=plan.output.name)
            names = {**self.names, plan.target.name: str(plan.target), plan.output.name: str(plan.output)}
            return [(SwapTask(target.key(WHOLE), self.job_id, spec, names), plan.target)]
        tasks = []
        for segment in target.segments:
            if target.swapped(segment).exists():
                continue
            # Video only: the original's audio is copied once, by the join.
            name = segment.path.name
            spec = dataclasses.replace(task_spec, targets=[name], output=name, audio=False, trim=None)
            names = {**self.names, name: f"{plan.target} (segment {segment.plan.index + 1} of {len(target.segments)})"}
            tasks.append((SwapTask(target.key(name), self.job_id, spec, names), segment.path))
        return tasks

    # --- results ------------------------------------------------------------------------------------

    def _settle(self, outcome: TaskOutcome, wall_s: float) -> None:
        target = self.targets_by_key(outcome.key)
        if target.failed or outcome.cancelled:
            return  # its target failed meanwhile (or the job is stopping: the tick raises)
        if outcome.failure is not None:
            if outcome.failure.kind in _JOB_FAILS or len(self.spec.targets) == 1:
                raise outcome.failure.error()
            self._fail_target(target, outcome.failure.message)
            return
        assert outcome.data is not None
        name = outcome.key.split("/", 1)[1]
        destination = target.plan.output if name == WHOLE else target.folder / "swapped" / name
        _write_atomic(destination, outcome.data)
        self.progress.finish(outcome.key)
        self.warnings += outcome.warnings
        self.runner.stages.task(wall_s, outcome.swap_s)

    def _fail_target(self, target: _Target, message: str) -> None:
        target.failed = True
        self.failures.append(message)
        prefix = target.key("")
        assert self.dispatch is not None
        self.dispatch.drop(lambda task: task.key.startswith(prefix))
        for key in [*(target.key(segment.path.name) for segment in target.segments), target.key(WHOLE)]:
            self.progress.drop(key)

    def targets_by_key(self, key: str) -> _Target:
        index = int(key.split("/", 1)[0])
        return next(target for target in self.targets if target.index == index)

    def _join(self, target: _Target) -> None:
        from app.media.segments import SegmentError, join_segments

        started = time.perf_counter()
        try:
            joined = join_segments([target.swapped(segment) for segment in target.segments], target.plan.target,
                                   target.plan.output, plan=[segment.plan for segment in target.segments],
                                   audio=self.spec.audio, overwrite=self.spec.overwrite)
        except SegmentError as error:  # a damaged part: only it runs again, on the queue's next attempt
            damaged = next(segment for segment in target.segments if segment.plan.index == error.index)
            target.swapped(damaged).unlink(missing_ok=True)
            raise TransientError(error.problem, "that segment is swapped again when the job is retried") from error
        self.runner.stages.add(join_s=time.perf_counter() - started)
        self.warnings += [f"{target.plan.target.name}: {warning}" for warning in joined.warnings]
        shutil.rmtree(target.folder, ignore_errors=True)  # done: the segments are not needed again

    def _tick(self) -> None:
        snap = self.progress.snapshot()
        segments = getattr(self.report, "segments", None)  # the queue's reporter keeps "segments k/n"
        if callable(segments) and any(target.segments for target in self.targets):
            segments(snap.segments_done, snap.segments_total)
        self.report.progress(snap.done, snap.total)  # raises JobCancelled / JobReleased: Dispatch stops its tasks


def _complete(path: Path, segment: Segment) -> bool:
    """A swapped segment on disk that has its planned frames (a damaged one is removed and redone)."""
    from app.media.segments import check_processed

    if not path.exists():
        return False
    try:
        check_processed(path, segment.plan)
    except InputError:
        path.unlink(missing_ok=True)
        return False
    return True


def _shared_inputs(spec: JobSpec) -> tuple[JobSpec, dict[str, bytes], dict[str, str]]:
    """The job's sources and reference as named bytes (sent once per job), the spec naming them, and
    each name → its path here (for messages)."""
    inputs: dict[str, bytes] = {}
    sources = []
    for index, source in enumerate(spec.sources):
        name = f"source-{index}{Path(source).suffix}"
        inputs[name] = _read_input(Path(source))
        sources.append(name)
    reference = None
    if spec.reference:
        reference = f"reference{Path(spec.reference).suffix}"
        inputs[reference] = _read_input(Path(spec.reference))
    names = dict(zip(sources, spec.sources))
    if reference and spec.reference:
        names[reference] = spec.reference
    return dataclasses.replace(spec, sources=sources, reference=reference), inputs, names


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})", "check the path and its permissions") from None


def _write_atomic(destination: Path, data: bytes) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = reserve_temp(destination)
    try:
        temp.write_bytes(data)
        os.replace(temp, destination)
    except BaseException:
        discard(temp)
        raise


def _job_folder(job: Job, report: ProgressReporter) -> Path:
    folder = getattr(report, "job_folder", None)
    if folder is None:  # a reporter without a store: the default queue's layout
        from app.paths import user_paths

        folder = user_paths().data / "job-files" / str(job.id)
    return Path(folder)


def _forget_other_specs(folder: Path, spec: JobSpec) -> None:
    """Segments swapped for another spec (the job was edited and retried) are not reused."""
    marker = folder / "ray" / "spec.sha256"
    stamp = hashlib.sha256(dataclasses.replace(spec, overwrite=False).to_json().encode()).hexdigest()
    if marker.exists() and marker.read_text().strip() != stamp:
        shutil.rmtree(folder / "ray", ignore_errors=True)
    marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker.write_text(stamp)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
