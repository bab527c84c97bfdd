"""What users and clients do to the queue (CLI, studio, HTTP API): add a job, cancel, retry or
remove one; and where a job's own files live."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from engines.errors import InputError

from .errors import JobStateError
from .events import EventKind, JobEvent
from .model import Job, JobSpec, JobState
from .transactions import StoreTransactions
from .transitions import FRESH_ATTEMPT, get_job, requeue, set_final


class JobUserActions(StoreTransactions):
    """JobStore's part for users: add, cancel, retry, remove."""

    def add(self, spec: JobSpec, max_attempts: int | None = None) -> Job:
        problems = spec.problems()
        if problems:
            raise InputError("; ".join(problems))
        now = self.clock()
        with self._write() as (conn, events):
            cursor = conn.execute(
                "INSERT INTO jobs (spec, state, max_attempts, created_at, updated_at, next_attempt_at)"
                " VALUES (?, 'PENDING', ?, ?, ?, ?)",
                (spec.to_json(), max_attempts or self.max_attempts, now, now, now),
            )
            job = get_job(conn, int(cursor.lastrowid or 0))
            events.append(JobEvent.from_job(job, EventKind.ADDED))
        return job

    def cancel(self, job_id: int) -> Job:
        """PENDING → CANCELLED at once; PROCESSING → flagged (the runner stops at its next progress
        report, then the job is CANCELLED). Cancelling a cancelled job is a no-op."""
        now = self.clock()
        with self._write() as (conn, events):
            job = get_job(conn, job_id)
            if job.state is JobState.PENDING:
                set_final(conn, job_id, JobState.CANCELLED, now, error=None)
            elif job.state is JobState.PROCESSING:
                conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?", (now, job_id)
                )
            elif job.state is JobState.CANCELLED:
                return job
            else:
                raise JobStateError(
                    f"job {job_id} is already {job.state.value.lower()}",
                    "only pending or running jobs can be cancelled",
                )
            job = get_job(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def retry(self, job_id: int, overwrite: bool | None = None) -> Job:
        """Run a finished job again (FAILED, CANCELLED or COMPLETED → PENDING), attempts reset.

        `overwrite`: change the spec's overwrite flag (re-running a completed job needs it, since
        its output now exists)."""
        now = self.clock()
        with self._write() as (conn, events):
            job = get_job(conn, job_id)
            if not job.state.is_final:
                raise JobStateError(
                    f"job {job_id} is {job.state.value.lower()}",
                    "only failed, cancelled or completed jobs can be retried",
                )
            if overwrite is not None and overwrite != job.spec.overwrite:
                spec = dataclasses.replace(job.spec, overwrite=overwrite)
                conn.execute("UPDATE jobs SET spec = ? WHERE id = ?", (spec.to_json(), job_id))
            conn.execute("UPDATE jobs SET started_at = NULL, " + FRESH_ATTEMPT + " WHERE id = ?", (job_id,))
            requeue(conn, job, now, at=now, attempts=0, error=None, warnings=[])
            job = get_job(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def remove(self, job_id: int) -> None:
        """Delete a job that is not running (cancel a running one first)."""
        with self._write() as (conn, events):
            job = get_job(conn, job_id)
            if job.state is JobState.PROCESSING:
                raise JobStateError(
                    f"job {job_id} is running", f"cancel it first: `swapcast jobs cancel {job_id}`"
                )
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            events.append(JobEvent.from_job(job, EventKind.REMOVED))
        shutil.rmtree(self.job_folder(job_id), ignore_errors=True)  # fetched inputs, kept renders

    def job_folder(self, job_id: int) -> Path:
        """Where a job's fetched inputs and to-be-uploaded renders live (owner-only, beside the database);
        removed when the job completes (but a --keep-local render) or is removed."""
        return self.path.parent / "job-files" / str(job_id)
