"""Which job changes are news for `/api/events`: the bus's and the store poll's, each change sent once.

Job changes reach the hub twice: from the in-process EventBus (the server's own workers, the API's
own writes) and from the ~1 Hz store poll of rows whose `updated_at` moved (workers in another
process cannot reach this process's bus). A change is sent once, whichever source saw it first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.jobs.events import EventKind, JobEvent
from app.jobs.model import Job, JobState, Progress


@dataclass
class _Seen:
    """The last change of a job sent to subscribers (for de-duplication)."""

    signature: tuple[Any, ...]
    state: JobState
    at: float  # Unix time it was recorded (for pruning)


def _signature(state: JobState, progress: Progress, fps: float | None, eta_s: float | None) -> tuple[Any, ...]:
    return (state, progress.done, progress.total, fps, eta_s)


class JobChanges:
    """The last change sent of each recently changed job, and how far the store has been read."""

    def __init__(self, store_margin_s: float) -> None:
        # Rows whose updated_at is this much older than the newest seen are read again at each poll:
        # a writer stamps updated_at before it waits for the write lock, so commits land slightly out
        # of time order (and another machine's clock may be a little behind).
        self.store_margin_s = store_margin_s
        self._seen: dict[int, _Seen] = {}
        self._bus_seen_at: dict[int, float] = {}  # job id → monotonic time the bus last told about it
        self._watermark = 0.0  # newest updated_at read from the store

    def read_from(self) -> float:
        """The `updated_at` from which the store is read next."""
        return self._watermark - self.store_margin_s

    def baseline(self, jobs: Iterable[Job], started: float) -> None:
        """What the store holds at `started` (Unix time) is known, not news."""
        for job in jobs:
            self._remember(job.id, _signature(job.state, job.progress, job.fps, job.eta_s), job.state)
            self._watermark = max(self._watermark, job.updated_at)
        self._watermark = max(self._watermark, started)

    def from_bus(self, event: JobEvent) -> bool:
        """Whether the bus's `event` is news (warnings and removals always are)."""
        self._bus_seen_at[event.job_id] = time.monotonic()
        if event.kind is EventKind.WARNING:
            return True
        if event.kind is EventKind.REMOVED:
            self._seen.pop(event.job_id, None)
            return True
        signature = _signature(event.state, event.progress, event.fps, event.eta_s)
        seen = self._seen.get(event.job_id)
        if seen is not None and seen.signature == signature:
            return False  # the store poll already sent this change
        self._remember(event.job_id, signature, event.state)
        return True

    def from_store(self, jobs: Iterable[Job], read_started: float) -> list[JobEvent]:
        """The news in rows read from the store, the read begun at `read_started` (monotonic time).

        Call it after taking the bus's events published before the read, so a row is never sent
        ahead of an older change still waiting on the bus (that would arrive out of order)."""
        news = []
        for job in jobs:
            self._watermark = max(self._watermark, job.updated_at)
            if self._bus_seen_at.get(job.id, -math.inf) >= read_started:
                # The bus told us about this job while we were reading: the row may be older than
                # what was sent. The next poll reads it again (it is inside the margin).
                continue
            event = self._from_row(job)
            if event is not None:
                news.append(event)
        self._prune()
        return news

    def _from_row(self, job: Job) -> JobEvent | None:
        signature = _signature(job.state, job.progress, job.fps, job.eta_s)
        seen = self._seen.get(job.id)
        if seen is not None and seen.signature == signature:
            return None
        if seen is None and job.state is JobState.PENDING and job.attempts == 0:
            kind = EventKind.ADDED
        elif seen is None or seen.state is not job.state:
            kind = EventKind.STATE
        else:
            kind = EventKind.PROGRESS
        self._remember(job.id, signature, job.state)
        return JobEvent.from_job(job, kind)

    def _remember(self, job_id: int, signature: tuple[Any, ...], state: JobState) -> None:
        self._seen[job_id] = _Seen(signature, state, time.time())

    def _prune(self) -> None:
        """Forget jobs not changed for a while (they are outside the poll's window), keeping memory
        proportional to recent activity, not to the queue's history."""
        horizon = self._watermark - 2 * self.store_margin_s - 60.0
        for job_id in [i for i, seen in self._seen.items() if seen.at < horizon]:
            del self._seen[job_id]
            self._bus_seen_at.pop(job_id, None)
