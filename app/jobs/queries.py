"""Reading the job queue: one job, a list of them, what changed, counts per state, the next due job."""

from __future__ import annotations

from collections.abc import Iterable

from .database import job_from_row
from .errors import JobNotFound
from .model import Job, JobState
from .transactions import StoreTransactions

_JobList = list[Job]  # `list` is also a method name here


class JobQueries(StoreTransactions):
    """JobStore's reads: none takes the write lock, so a reader never waits for a worker."""

    def get(self, job_id: int) -> Job:
        rows = self._read_rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        return job_from_row(rows[0])

    def list(self, states: Iterable[JobState] | None = None) -> _JobList:
        if states is None:
            rows = self._read_rows("SELECT * FROM jobs ORDER BY id")
        else:
            names = [JobState(s).value for s in states]
            if not names:
                return []
            marks = ",".join("?" * len(names))
            rows = self._read_rows(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id", names)
        return [job_from_row(row) for row in rows]

    def changed_since(self, since: float) -> _JobList:
        """Jobs whose row changed at or after `since` (Unix time), oldest change first: how a reader
        follows workers in other processes, whose events it cannot hear (the API's event stream)."""
        rows = self._read_rows("SELECT * FROM jobs WHERE updated_at >= ? ORDER BY updated_at, id", (since,))
        return [job_from_row(row) for row in rows]

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state listed, 0 where none)."""
        rows = self._read_rows("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        found = {JobState(row["state"]): int(row["n"]) for row in rows}
        return {state: found.get(state, 0) for state in JobState}

    def next_pending_at(self, job_ids: Iterable[int] | None = None) -> float | None:
        """When the earliest PENDING job (of `job_ids`) becomes claimable; None if there is none."""
        sql, params = "SELECT MIN(next_attempt_at) FROM jobs WHERE state = 'PENDING'", []
        if job_ids is not None:
            ids = list(job_ids)
            if not ids:
                return None
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            params = ids
        value = self._read_rows(sql, params)[0][0]
        return float(value) if value is not None else None
