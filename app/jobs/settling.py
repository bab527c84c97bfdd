"""How an attempt ends, as its worker reports it: completed, failed (retried after a back-off while
attempts are left), stopped after a cancel, or released back to the queue. Each answers None when
the job is not (or no longer) that worker's, and leaves no partial output files behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable

from .events import EventKind, JobEvent
from .model import Job, JobState, StoredOutput
from .transactions import StoreTransactions
from .transitions import get_job, one_line, requeue, running_job, set_final


class JobSettling(StoreTransactions):
    """JobStore's part for a worker whose attempt is over."""

    def complete(
        self, job_id: int, output: str, warnings: Iterable[str] = (), *, worker_id: str | None = None,
        objects: Iterable[StoredOutput] = (),
    ) -> Job | None:
        """PROCESSING → COMPLETED. None when the job is not (or no longer) this worker's."""

        def end(conn: sqlite3.Connection, job: Job, now: float) -> None:
            merged = list(dict.fromkeys([*job.warnings, *(one_line(w) for w in warnings)]))
            conn.execute(
                "UPDATE jobs SET state = 'COMPLETED', output = ?, warnings = ?, finished_at = ?,"
                " updated_at = ?, eta_s = 0, lease_expires_at = NULL, error = NULL, objects = ? WHERE id = ?",
                (str(output), json.dumps(merged), now, now,
                 json.dumps([stored.to_dict() for stored in objects]), job.id),
            )

        return self._settle(job_id, worker_id, end)

    def backoff_s(self, attempts: int) -> float:
        """Delay before attempt `attempts + 1`: base · 2^(attempts-1), capped."""
        return float(min(self.backoff_base_s * 2 ** max(0, attempts - 1), self.backoff_cap_s))

    def fail(
        self, job_id: int, error: str, transient: bool, *, worker_id: str | None = None
    ) -> Job | None:
        """A failed attempt: a transient one with attempts left goes back to PENDING after a
        back-off; anything else is FAILED. A job whose cancel was requested ends CANCELLED.
        None when the job is not (or no longer) this worker's."""
        error = one_line(error)

        def end(conn: sqlite3.Connection, job: Job, now: float) -> None:
            if job.cancel_requested:
                set_final(conn, job.id, JobState.CANCELLED, now, error=None)
            elif transient and job.attempts < job.max_attempts:
                requeue(conn, job, now, at=now + self.backoff_s(job.attempts), error=error)
            else:
                gave_up = f"{error} (gave up after {job.attempts} attempts)" if transient else error
                set_final(conn, job.id, JobState.FAILED, now, error=gave_up)

        return self._settle(job_id, worker_id, end)

    def acknowledge_cancel(self, job_id: int, *, worker_id: str | None = None) -> Job | None:
        """The runner stopped after a cancel request: PROCESSING → CANCELLED."""

        def end(conn: sqlite3.Connection, job: Job, now: float) -> None:
            set_final(conn, job.id, JobState.CANCELLED, now, error=None)

        return self._settle(job_id, worker_id, end)

    def release(self, job_id: int, *, worker_id: str | None = None) -> Job | None:
        """The worker is stopping (quit, Ctrl-C): the job goes back to PENDING, claimable at once,
        and this attempt does not count. A job whose cancel was requested ends CANCELLED."""

        def end(conn: sqlite3.Connection, job: Job, now: float) -> None:
            if job.cancel_requested:
                set_final(conn, job.id, JobState.CANCELLED, now, error=None)
            else:
                requeue(conn, job, now, at=now, attempts=max(0, job.attempts - 1))

        return self._settle(job_id, worker_id, end)

    def _settle(
        self, job_id: int, worker_id: str | None, end: Callable[[sqlite3.Connection, Job, float], None]
    ) -> Job | None:
        """What every ending shares: only this worker's running job ends (else None), its partial
        files go, `end` writes its new state, and the change is published."""
        now = self.clock()
        with self._write() as (conn, events):
            job = running_job(conn, job_id, worker_id)
            if job is None:
                return None
            self._forget_partials(conn, job)
            end(conn, job, now)
            job = get_job(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job
