"""The swap actor: a long-lived Ray actor that runs tasks with the same runner as `swapcast worker`.

It loads the engine on its first task and keeps it (app.engine_host's cache lives as long as the actor's
process). Each task's files are written into a temp folder of its own from the bytes Ray delivered, the
job's spec is pointed at them, and app.offline's SwapRunner does the rest; the encoded output goes back
as bytes. Ray runs the actor with two threads, so progress() and cancel() answer while a task runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from app.jobs.errors import JobCancelled, JobInterrupted
from app.jobs.model import Job, JobSpec, JobState

from .tasks import Failure, SwapTask, TaskOutcome, user_text


class _TaskReport:
    """The ProgressReporter of one task: frames kept for progress(), cancel raised where the runner reports."""

    def __init__(self, actor: SwapActor, task: SwapTask) -> None:
        self._actor = actor
        self._task = task
        self.warnings: list[str] = []

    def progress(self, done: int, total: int) -> None:
        self._actor._record(self._task.key, done, total)
        if self.stopping:
            raise JobCancelled(self._task.job_id)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @property
    def stopping(self) -> bool:
        return self._actor._is_cancelled(self._task.key)


class SwapActor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: dict[str, tuple[int, int]] = {}
        self._cancelled: set[str] = set()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def swap(self, task: SwapTask, inputs: dict[str, bytes], target: bytes) -> TaskOutcome:
        """Run one task. Never raises for the job's own problems: they come back as a Failure."""
        from app.offline.runner import SwapRunner  # the engine and PyAV load in the actor, not the driver

        started = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix="swapcast-actor-"))
        report = _TaskReport(self, task)
        try:
            spec = _localise(task, folder, inputs, target)
            written = time.perf_counter()
            result = SwapRunner().run(Job(id=task.job_id, spec=spec, state=JobState.PROCESSING), report)
            swapped = time.perf_counter()
            data = Path(result.output).read_bytes()
            with self._lock:
                done, _ = self._progress.get(task.key, (0, 0))
            names = {**_user_names(task, folder), **task.names}  # paths, then bare names ("seg_00003.mp4: …")
            warnings = [user_text(warning, names) for warning in _unique([*report.warnings, *result.warnings])]
            return TaskOutcome(task.key, data=data, frames=done, warnings=warnings,
                               swap_s=swapped - written, io_s=(written - started) + (time.perf_counter() - swapped),
                               actor=self.name)
        except JobInterrupted:
            return TaskOutcome(task.key, cancelled=True, actor=self.name)
        except Exception as error:  # noqa: BLE001 — the job's problem, settled on the submitting machine
            return TaskOutcome(task.key, failure=Failure.of(error, _user_names(task, folder)), actor=self.name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with self._lock:
                self._cancelled.discard(task.key)
                self._progress.pop(task.key, None)  # the outcome carries the final count

    def progress(self) -> dict[str, tuple[int, int]]:
        """Frames done/total of the task running now (by key)."""
        with self._lock:
            return dict(self._progress)

    def cancel(self, key: str) -> None:
        with self._lock:
            self._cancelled.add(key)

    def pid(self) -> int:
        return os.getpid()

    def _record(self, key: str, done: int, total: int) -> None:
        with self._lock:
            self._progress[key] = (done, total)

    def _is_cancelled(self, key: str) -> bool:
        with self._lock:
            return key in self._cancelled


def _localise(task: SwapTask, folder: Path, inputs: dict[str, bytes], target: bytes) -> JobSpec:
    """The task's spec with its file names made paths in `folder`, the files written there."""
    spec = task.spec
    for name, data in inputs.items():
        (folder / name).write_bytes(data)
    (folder / "in").mkdir()
    (folder / "out").mkdir()
    target_path = folder / "in" / spec.targets[0]
    target_path.write_bytes(target)
    return replace(
        spec,
        sources=[str(folder / name) for name in spec.sources],
        reference=str(folder / spec.reference) if spec.reference else None,
        targets=[str(target_path)],
        output=str(folder / "out" / spec.output),
        overwrite=True,
    )


def _user_names(task: SwapTask, folder: Path) -> dict[str, str]:
    """Where _localise put each file → the name the user knows it by."""
    spec = task.spec
    local = {name: folder / name for name in [*spec.sources, *([spec.reference] if spec.reference else [])]}
    local[spec.targets[0]] = folder / "in" / spec.targets[0]
    local[spec.output] = folder / "out" / spec.output
    return {str(path): task.names.get(name, name) for name, path in local.items()}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
