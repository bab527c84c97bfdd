"""The contract between the queue and the code that swaps frames (app.offline.runner.SwapRunner).

The worker owns the job's life (claim, lease, retries, final state); the runner only does the work
and reports. How it must end:
- return RunResult: the job is COMPLETED;
- raise engines.errors.TransientError (GPU out of memory, busy file): retried with back-off;
- raise any other engines.errors.SwapCastError (missing file, no face, bad model): FAILED at once,
  with the error's one-line message;
- any other exception: FAILED as "internal error: <type>: <msg>" (the traceback goes to the log);
- JobInterrupted subclasses raised by report.progress() must propagate (they derive from
  BaseException, so `except Exception` in runner code does not swallow them). Clean up in `finally`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .model import Job, StoredOutput


@runtime_checkable
class ProgressReporter(Protocol):
    def progress(self, done: int, total: int) -> None:
        """Frames done of total (over all targets of the job). Cheap: call it every frame.

        Raises JobCancelled / JobReleased / LeaseLost when the runner must stop. Call it from the
        thread that runs `run()`; a helper thread can poll `stopping` instead.
        """
        ...

    def warn(self, message: str) -> None:
        """Something the user should know that did not stop the job (e.g. 'no face in 12 frames')."""
        ...

    @property
    def stopping(self) -> bool:
        """True once the runner should stop (the next progress() call raises)."""
        ...


@dataclass(frozen=True)
class RunResult:
    output: str  # the final output path (a file, or a folder for several targets), or object URI / prefix
    warnings: list[str] = field(default_factory=list)
    objects: list[StoredOutput] = field(default_factory=list)  # uploaded outputs (confirmed)


@runtime_checkable
class JobRunner(Protocol):
    def run(self, job: Job, report: ProgressReporter) -> RunResult: ...
