"""Reclaiming the jobs of dead workers: a PROCESSING job whose lease expired (the worker stopped
renewing: SIGKILL, power loss), or whose claiming process no longer exists on this host, goes back
to the queue. Leases compare Unix times, so workers on other machines need synchronised clocks.
"""

from __future__ import annotations

import sqlite3

from .database import job_from_row
from .events import EventKind, JobEvent
from .model import Job, JobState
from .ownership import ProcessIdentity, this_process
from .transactions import StoreTransactions
from .transitions import get_job, requeue, set_final


class JobRecovery(StoreTransactions):
    """JobStore's crash recovery: re-queue (or end) the jobs whose worker died."""

    def recover_stale(self, now: float | None = None) -> list[Job]:
        """Re-queue PROCESSING jobs whose worker died: their lease expired, or the process that
        claimed them no longer exists on this host (then at once, lease or not). The attempt
        counts, so a job that keeps killing its worker ends FAILED after max_attempts. A job whose
        cancel was requested ends CANCELLED. Returns the recovered jobs."""
        now = self.clock() if now is None else now
        here = this_process()
        recovered: list[Job] = []
        with self._write() as (conn, events):
            rows = conn.execute("SELECT * FROM jobs WHERE state = 'PROCESSING' ORDER BY id").fetchall()
            for row in rows:
                holder = _holder(row)
                gone = holder is not None and holder.is_gone(here)
                expired = row["lease_expires_at"] is not None and row["lease_expires_at"] < now
                if not (expired or gone):
                    continue
                stale = job_from_row(row)
                self._forget_partials(conn, stale)
                how = "'s process ended" if gone else " stopped responding"
                note = f"attempt {stale.attempts}: worker {stale.worker_id}{how}"
                if stale.cancel_requested:
                    set_final(conn, stale.id, JobState.CANCELLED, now, error=None)
                elif stale.attempts >= stale.max_attempts:
                    set_final(
                        conn, stale.id, JobState.FAILED, now,
                        error=f"its worker stopped responding {stale.attempts} times (crash or kill?)",
                    )
                else:
                    requeue(conn, stale, now, at=now, warnings=list(dict.fromkeys([*stale.warnings, note])))
                job = get_job(conn, stale.id)
                recovered.append(job)
                events.append(JobEvent.from_job(job, EventKind.STATE))
        return recovered

    def has_orphans(self) -> bool:
        """Whether a PROCESSING job's process is gone from this host: a read, cheap enough for
        a worker to ask at every poll (recover_stale() takes the write lock)."""
        here = this_process()
        rows = self._read_rows(
            "SELECT worker_host, worker_pid, worker_started_at FROM jobs"
            " WHERE state = 'PROCESSING' AND worker_host = ?", (here.host,),
        )
        return any(holder is not None and holder.is_gone(here) for holder in map(_holder, rows))


def _holder(row: sqlite3.Row) -> ProcessIdentity | None:
    """The process that claimed a PROCESSING row; None for rows claimed before it was recorded."""
    if row["worker_host"] is None or row["worker_pid"] is None or row["worker_started_at"] is None:
        return None
    return ProcessIdentity(row["worker_host"], int(row["worker_pid"]), float(row["worker_started_at"]))
