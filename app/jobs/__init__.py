"""The offline job queue: a persistent SQLite queue (the one source of truth), workers that run
jobs with a pluggable runner, executors that decide where workers run, and an event stream.

    store = JobStore(events=bus)              # the user's jobs database
    job = store.add(spec)
    Worker(store, runner).run_job(job.id)     # or LocalExecutor(store, factory, workers=4).run()
"""

from __future__ import annotations

from .errors import JobCancelled, JobInterrupted, JobNotFound, JobReleased, JobStateError, JobStoreError, LeaseLost
from .events import EventBus, EventKind, JobEvent, Subscription, watch
from .executor import Executor, LocalExecutor
from .leases import Lease
from .model import FINAL_STATES, Job, JobSpec, JobState, Progress
from .runner import JobRunner, ProgressReporter, RunResult
from .store import JobStore
from .worker import RunnerUnavailable, Worker

__all__ = [
    "FINAL_STATES",
    "EventBus",
    "EventKind",
    "Executor",
    "Job",
    "JobCancelled",
    "JobEvent",
    "JobInterrupted",
    "JobNotFound",
    "JobReleased",
    "JobRunner",
    "JobSpec",
    "JobState",
    "JobStateError",
    "JobStore",
    "JobStoreError",
    "Lease",
    "LeaseLost",
    "LocalExecutor",
    "Progress",
    "ProgressReporter",
    "RunResult",
    "RunnerUnavailable",
    "Subscription",
    "Worker",
    "watch",
]
