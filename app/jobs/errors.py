"""Errors of the job queue the user can act on, and the control-flow signals of a running job."""

from __future__ import annotations

from engines.errors import SwapCastError


class JobNotFound(SwapCastError):
    """No job has this id (never added, or removed)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}", "see `swapcast jobs list`")


class JobStateError(SwapCastError):
    """The action does not apply to the job's current state (e.g. removing a running job)."""


class JobStoreError(SwapCastError):
    """The jobs database cannot be used (newer schema, corrupt file)."""


# The signals below derive from BaseException on purpose: runner code written elsewhere may wrap
# its work in `except Exception`, and a cancel must get through such handlers to the worker the way
# KeyboardInterrupt does. `finally` blocks (closing files, encoders) still run.


class JobInterrupted(BaseException):
    """Raised from ProgressReporter.progress() to stop the runner; the worker settles the job."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} {self.reason}")

    reason = "interrupted"


class JobCancelled(JobInterrupted):
    """The user cancelled the job: it ends CANCELLED."""

    reason = "cancelled"


class JobReleased(JobInterrupted):
    """The worker is shutting down: the job goes back to PENDING without counting the attempt."""

    reason = "released (worker stopping)"


class LeaseLost(JobInterrupted):
    """Another worker recovered the job (our heartbeats stalled past the lease): drop it quietly."""

    reason = "lost its lease to another worker"
