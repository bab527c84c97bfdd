"""The steps a job store write transaction is made of: find a job's row, send it back to the queue,
end it, and list the partial files it leaves. Each takes the transaction's connection; none commits.
"""

from __future__ import annotations

import json
import sqlite3
from enum import Enum
from pathlib import Path

from . import partials
from .database import job_from_row
from .errors import JobNotFound
from .model import Job, JobSpec, JobState

# What a new attempt starts from (claim) and what a retried job starts from (retry): one list, so
# a column added later is reset by both.
FRESH_ATTEMPT = (
    "frames_done = 0, frames_total = 0, fps = NULL, eta_s = NULL, error = NULL, cancel_requested = 0,"
    " output = NULL, objects = NULL, finished_at = NULL, segments_done = NULL, segments_total = NULL"
)


class Keep(Enum):
    """`error=KEEP`: leave the job's error as it is (None would clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def find_job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return job_from_row(row) if row is not None else None


def get_job(conn: sqlite3.Connection, job_id: int) -> Job:
    job = find_job(conn, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def running_job(conn: sqlite3.Connection, job_id: int, worker_id: str | None) -> Job | None:
    """The job if it is PROCESSING (for `worker_id`, if given); None when it is not (or no longer)."""
    job = find_job(conn, job_id)
    if job is None or job.state is not JobState.PROCESSING:
        return None
    if worker_id is not None and job.worker_id != worker_id:
        return None
    return job


def partials_left_by(conn: sqlite3.Connection, job: Job) -> list[Path]:
    """The partial files of `job`, which is leaving PROCESSING. Outputs that another running job
    also writes (the same -o with --overwrite) are left alone."""
    others = conn.execute(
        "SELECT spec FROM jobs WHERE state = 'PROCESSING' AND id != ?", (job.id,)
    ).fetchall()
    busy = {path for row in others for path in JobSpec.from_json(row["spec"]).destinations()}
    return partials.partial_files(d for d in job.spec.destinations() if d not in busy)


def requeue(
    conn: sqlite3.Connection,
    job: Job,
    now: float,
    *,
    at: float,
    attempts: int | None = None,
    error: str | None | Keep = KEEP,
    warnings: list[str] | None = None,
) -> None:
    """Back to PENDING, claimable from `at`, no longer held by any worker: the one way a job
    returns to the queue (a transient failure, a release, a recovery, a retry)."""
    conn.execute(
        "UPDATE jobs SET state = 'PENDING', next_attempt_at = ?, attempts = ?, error = ?, warnings = ?,"
        " worker_id = NULL, worker_host = NULL, worker_pid = NULL, worker_started_at = NULL,"
        " lease_expires_at = NULL, fps = NULL, eta_s = NULL, updated_at = ? WHERE id = ?",
        (
            at,
            job.attempts if attempts is None else attempts,
            job.error if isinstance(error, Keep) else error,
            json.dumps(job.warnings if warnings is None else warnings),
            now,
            job.id,
        ),
    )


def set_final(conn: sqlite3.Connection, job_id: int, state: JobState, now: float, error: str | None) -> None:
    conn.execute(
        "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, fps = NULL,"
        " eta_s = NULL, lease_expires_at = NULL WHERE id = ?",
        (state.value, error, now, now, job_id),
    )


def one_line(text: str, limit: int = 500) -> str:
    """Errors and warnings are shown in one table cell / one log line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
