"""The job queue: one SQLite file, the single source of truth for every worker, thread and process.

Concurrency model:
- Every write is one `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock up front; a
  second writer (thread or process) waits on busy_timeout instead of failing. Claiming a job is a
  SELECT + UPDATE inside such a transaction, so exactly one claimer wins a job.
- WAL mode lets readers (`jobs list`, `watch`) read while a worker writes.
- One connection per JobStore object, guarded by a lock, shared by that object's threads. Other
  processes open their own JobStore. After a fork the connection is reopened (a SQLite connection
  must never cross a fork).
- A PROCESSING job holds a lease (worker_id + lease_expires_at), renewed by heartbeats and progress
  writes. A worker that dies (SIGKILL, power loss) stops renewing; recover_stale() re-queues its
  job. Leases compare Unix times, so workers on other machines need synchronised clocks.
- The job also records the process that claimed it (host, pid, start time: ownership.py). On the
  same host, recover_stale() re-queues the job of a process that no longer exists at once.
- A job that leaves PROCESSING (settled, released, recovered) leaves no partial output files: the
  ones present are listed inside the transaction, while no other worker can hold the job, and
  deleted after the commit (partials.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from app.paths import make_private_folder
from engines.errors import InputError

from . import partials
from .database import job_from_row, open_database
from .errors import JobNotFound, JobStateError
from .events import EventBus, EventKind, JobEvent
from .model import Job, JobSpec, JobState, StoredOutput
from .ownership import ProcessIdentity, this_process

# What a new attempt starts from (claim) and what a retried job starts from (retry): one list, so
# a column added later is reset by both.
_FRESH_ATTEMPT = (
    "frames_done = 0, frames_total = 0, fps = NULL, eta_s = NULL, error = NULL, cancel_requested = 0,"
    " output = NULL, objects = NULL, finished_at = NULL, segments_done = NULL, segments_total = NULL"
)

_JobList = list[Job]  # `list` is also a method name of JobStore
_log = logging.getLogger(__name__)


class _Keep(Enum):
    """`error=_KEEP`: leave the job's error as it is (None would clear it)."""

    KEEP = "keep"


_KEEP = _Keep.KEEP


class Lease(str, Enum):
    """What a running job's worker learns when it renews its lease."""

    OWNED = "owned"  # carry on
    CANCEL_REQUESTED = "cancel_requested"  # stop: the user cancelled
    LOST = "lost"  # stop quietly: the job is no longer ours (recovered by another worker, removed)


class JobStore:
    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        events: EventBus | None = None,
        max_attempts: int = 3,
        backoff_base_s: float = 5.0,
        backoff_cap_s: float = 300.0,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating or upgrading) the queue at `db_path`, by default the user's jobs_db.

        `events`: where committed changes are published (None: nowhere). `clock`: Unix time, a
        parameter so tests can step it.
        """
        if db_path is None:
            from app.paths import user_paths

            db_path = user_paths().jobs_db
        self.path = Path(db_path)
        self.events = events
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.busy_timeout_s = busy_timeout_s
        self.clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._doomed: list[Path] = []  # partial files to delete once the transaction commits
        make_private_folder(self.path.parent)
        self._connection()  # open and migrate now, so a bad file is reported at once

    # --- connection and transactions ------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._pid != os.getpid():
            # Forked child: the parent's lock may be held by a thread that does not exist here,
            # and its connection must not be used; start afresh (and leave the parent's alone).
            self._lock = threading.RLock()
        self._conn, self._pid = open_database(self.path, self.busy_timeout_s), os.getpid()
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, list[JobEvent]]]:
        """One write transaction; the events it collects are published after it commits."""
        events: list[JobEvent] = []
        with self._lock:
            conn = self._connection()
            self._doomed = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn, events
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    conn.execute("ROLLBACK")
                raise
            finally:
                doomed, self._doomed = self._doomed, []
        for path in partials.remove(doomed):
            _log.info("removed the partial file %s of a stopped job", path)
        if self.events is not None:
            for event in events:
                self.events.publish(event)

    def _read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------------------

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

    # --- adding and claiming ----------------------------------------------------------------------

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
            job = self._get_in(conn, int(cursor.lastrowid or 0))
            events.append(JobEvent.from_job(job, EventKind.ADDED))
        return job

    def claim(self, worker_id: str, lease_s: float, job_ids: Iterable[int] | None = None) -> Job | None:
        """Take the oldest claimable PENDING job (of `job_ids`, if given) for `worker_id`.

        Atomic across threads and processes: the write lock is held from the SELECT to the UPDATE.
        """
        ids = list(job_ids) if job_ids is not None else None
        if ids is not None and not ids:
            return None
        now = self.clock()
        owner = this_process()
        with self._write() as (conn, events):
            sql = "SELECT id FROM jobs WHERE state = 'PENDING' AND next_attempt_at <= ?"
            params: list[Any] = [now]
            if ids is not None:
                sql += f" AND id IN ({','.join('?' * len(ids))})"
                params += ids
            row = conn.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'PROCESSING', worker_id = ?, attempts = attempts + 1,"
                " started_at = ?, lease_s = ?, lease_expires_at = ?, updated_at = ?,"
                " worker_host = ?, worker_pid = ?, worker_started_at = ?, " + _FRESH_ATTEMPT +
                " WHERE id = ? AND state = 'PENDING'",
                (worker_id, now, lease_s, now + lease_s, now, owner.host, owner.pid, owner.started_at, row["id"]),
            )
            job = self._get_in(conn, row["id"])
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    # --- the running job's worker -----------------------------------------------------------------

    def heartbeat(self, job_id: int, worker_id: str) -> Lease:
        """Extend the lease of a job this worker runs; says whether to go on."""
        now = self.clock()
        with self._write() as (conn, _):
            return self._renew(conn, job_id, worker_id, now)

    def update_progress(
        self,
        job_id: int,
        done: int,
        total: int,
        fps: float | None,
        eta_s: float | None,
        *,
        worker_id: str | None = None,
    ) -> Lease:
        """Record progress (also renews the lease: progress is proof of life)."""
        now = self.clock()
        with self._write() as (conn, events):
            if worker_id is not None:
                lease = self._renew(conn, job_id, worker_id, now)
                if lease is Lease.LOST:
                    return lease
            row = conn.execute(
                "SELECT state, cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None or row["state"] != JobState.PROCESSING.value:
                return Lease.LOST
            conn.execute(
                "UPDATE jobs SET frames_done = ?, frames_total = ?, fps = ?, eta_s = ?, updated_at = ?"
                " WHERE id = ?",
                (int(done), int(total), fps, eta_s, now, job_id),
            )
            events.append(JobEvent.from_job(self._get_in(conn, job_id), EventKind.PROGRESS))
            return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.OWNED

    def update_segments(self, job_id: int, done: int, total: int, *, worker_id: str | None = None) -> None:
        """Record how many segments of a split video are swapped (shown beside the frame progress)."""
        with self._write() as (conn, events):
            query = "UPDATE jobs SET segments_done = ?, segments_total = ? WHERE id = ? AND state = 'PROCESSING'"
            params: tuple[object, ...] = (int(done), int(total), job_id)
            if worker_id is not None:
                query, params = query + " AND worker_id = ?", (*params, worker_id)
            if conn.execute(query, params).rowcount:
                events.append(JobEvent.from_job(self._get_in(conn, job_id), EventKind.PROGRESS))

    def add_warning(self, job_id: int, message: str) -> None:
        """Keep a warning with the job (shown by `jobs show` and in the events) at once."""
        message = _one_line(message)
        with self._write() as (conn, events):
            job = self._find_in(conn, job_id)
            if job is None:
                return
            if message not in job.warnings:
                conn.execute(
                    "UPDATE jobs SET warnings = ?, updated_at = ? WHERE id = ?",
                    (json.dumps([*job.warnings, message]), self.clock(), job_id),
                )
            events.append(JobEvent.from_job(job, EventKind.WARNING, message=message))

    def complete(
        self, job_id: int, output: str, warnings: Iterable[str] = (), *, worker_id: str | None = None,
        objects: Iterable[StoredOutput] = (),
    ) -> Job | None:
        """PROCESSING → COMPLETED. None when the job is not (or no longer) this worker's."""
        now = self.clock()
        with self._write() as (conn, events):
            job = self._running_in(conn, job_id, worker_id)
            if job is None:
                return None
            merged = list(dict.fromkeys([*job.warnings, *(_one_line(w) for w in warnings)]))
            self._forget_partials(conn, job)
            conn.execute(
                "UPDATE jobs SET state = 'COMPLETED', output = ?, warnings = ?, finished_at = ?,"
                " updated_at = ?, eta_s = 0, lease_expires_at = NULL, error = NULL, objects = ? WHERE id = ?",
                (str(output), json.dumps(merged), now, now,
                 json.dumps([stored.to_dict() for stored in objects]), job_id),
            )
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def backoff_s(self, attempts: int) -> float:
        """Delay before attempt `attempts + 1`: base · 2^(attempts-1), capped."""
        return float(min(self.backoff_base_s * 2 ** max(0, attempts - 1), self.backoff_cap_s))

    def fail(
        self, job_id: int, error: str, transient: bool, *, worker_id: str | None = None
    ) -> Job | None:
        """A failed attempt: a transient one with attempts left goes back to PENDING after a
        back-off; anything else is FAILED. A job whose cancel was requested ends CANCELLED.
        None when the job is not (or no longer) this worker's."""
        now = self.clock()
        error = _one_line(error)
        with self._write() as (conn, events):
            job = self._running_in(conn, job_id, worker_id)
            if job is None:
                return None
            self._forget_partials(conn, job)
            if job.cancel_requested:
                self._set_final(conn, job_id, JobState.CANCELLED, now, error=None)
            elif transient and job.attempts < job.max_attempts:
                self._requeue(conn, job, now, at=now + self.backoff_s(job.attempts), error=error)
            else:
                if transient:
                    error = f"{error} (gave up after {job.attempts} attempts)"
                self._set_final(conn, job_id, JobState.FAILED, now, error=error)
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def acknowledge_cancel(self, job_id: int, *, worker_id: str | None = None) -> Job | None:
        """The runner stopped after a cancel request: PROCESSING → CANCELLED."""
        now = self.clock()
        with self._write() as (conn, events):
            job = self._running_in(conn, job_id, worker_id)
            if job is None:
                return None
            self._forget_partials(conn, job)
            self._set_final(conn, job_id, JobState.CANCELLED, now, error=None)
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def release(self, job_id: int, *, worker_id: str | None = None) -> Job | None:
        """The worker is stopping (quit, Ctrl-C): the job goes back to PENDING, claimable at once,
        and this attempt does not count. A job whose cancel was requested ends CANCELLED."""
        now = self.clock()
        with self._write() as (conn, events):
            job = self._running_in(conn, job_id, worker_id)
            if job is None:
                return None
            self._forget_partials(conn, job)
            if job.cancel_requested:
                self._set_final(conn, job_id, JobState.CANCELLED, now, error=None)
            else:
                self._requeue(conn, job, now, at=now, attempts=max(0, job.attempts - 1))
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    # --- user actions -----------------------------------------------------------------------------

    def cancel(self, job_id: int) -> Job:
        """PENDING → CANCELLED at once; PROCESSING → flagged (the runner stops at its next progress
        report, then the job is CANCELLED). Cancelling a cancelled job is a no-op."""
        now = self.clock()
        with self._write() as (conn, events):
            job = self._get_in(conn, job_id)
            if job.state is JobState.PENDING:
                self._set_final(conn, job_id, JobState.CANCELLED, now, error=None)
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
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def retry(self, job_id: int, overwrite: bool | None = None) -> Job:
        """Run a finished job again (FAILED, CANCELLED or COMPLETED → PENDING), attempts reset.

        `overwrite`: change the spec's overwrite flag (re-running a completed job needs it, since
        its output now exists)."""
        now = self.clock()
        with self._write() as (conn, events):
            job = self._get_in(conn, job_id)
            if not job.state.is_final:
                raise JobStateError(
                    f"job {job_id} is {job.state.value.lower()}",
                    "only failed, cancelled or completed jobs can be retried",
                )
            if overwrite is not None and overwrite != job.spec.overwrite:
                spec = dataclasses.replace(job.spec, overwrite=overwrite)
                conn.execute("UPDATE jobs SET spec = ? WHERE id = ?", (spec.to_json(), job_id))
            conn.execute("UPDATE jobs SET started_at = NULL, " + _FRESH_ATTEMPT + " WHERE id = ?", (job_id,))
            self._requeue(conn, job, now, at=now, attempts=0, error=None, warnings=[])
            job = self._get_in(conn, job_id)
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def remove(self, job_id: int) -> None:
        """Delete a job that is not running (cancel a running one first)."""
        with self._write() as (conn, events):
            job = self._get_in(conn, job_id)
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

    # --- crash recovery ---------------------------------------------------------------------------

    def recover_stale(self, now: float | None = None) -> _JobList:
        """Re-queue PROCESSING jobs whose worker died: their lease expired, or the process that
        claimed them no longer exists on this host (then at once, lease or not). The attempt
        counts, so a job that keeps killing its worker ends FAILED after max_attempts. A job whose
        cancel was requested ends CANCELLED. Returns the recovered jobs."""
        now = self.clock() if now is None else now
        here = this_process()
        recovered: _JobList = []
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
                    self._set_final(conn, stale.id, JobState.CANCELLED, now, error=None)
                elif stale.attempts >= stale.max_attempts:
                    self._set_final(
                        conn, stale.id, JobState.FAILED, now,
                        error=f"its worker stopped responding {stale.attempts} times (crash or kill?)",
                    )
                else:
                    self._requeue(conn, stale, now, at=now, warnings=list(dict.fromkeys([*stale.warnings, note])))
                job = self._get_in(conn, stale.id)
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

    # --- helpers (called inside a write transaction) ----------------------------------------------

    def _find_in(self, conn: sqlite3.Connection, job_id: int) -> Job | None:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return job_from_row(row) if row is not None else None

    def _get_in(self, conn: sqlite3.Connection, job_id: int) -> Job:
        job = self._find_in(conn, job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def _running_in(self, conn: sqlite3.Connection, job_id: int, worker_id: str | None) -> Job | None:
        job = self._find_in(conn, job_id)
        if job is None or job.state is not JobState.PROCESSING:
            return None
        if worker_id is not None and job.worker_id != worker_id:
            return None
        return job

    def _renew(self, conn: sqlite3.Connection, job_id: int, worker_id: str, now: float) -> Lease:
        cursor = conn.execute(
            "UPDATE jobs SET lease_expires_at = ? + lease_s"
            " WHERE id = ? AND worker_id = ? AND state = 'PROCESSING'",
            (now, job_id, worker_id),
        )
        if cursor.rowcount == 0:
            return Lease.LOST
        row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.OWNED

    def _forget_partials(self, conn: sqlite3.Connection, job: Job) -> None:
        """`job` is leaving PROCESSING: its partial files go once the transaction commits. Outputs
        that another running job also writes (the same -o with --overwrite) are left alone."""
        others = conn.execute(
            "SELECT spec FROM jobs WHERE state = 'PROCESSING' AND id != ?", (job.id,)
        ).fetchall()
        busy = {path for row in others for path in JobSpec.from_json(row["spec"]).destinations()}
        self._doomed += partials.partial_files(d for d in job.spec.destinations() if d not in busy)

    def _requeue(
        self,
        conn: sqlite3.Connection,
        job: Job,
        now: float,
        *,
        at: float,
        attempts: int | None = None,
        error: str | None | _Keep = _KEEP,
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
                job.error if isinstance(error, _Keep) else error,
                json.dumps(job.warnings if warnings is None else warnings),
                now,
                job.id,
            ),
        )

    def _set_final(
        self, conn: sqlite3.Connection, job_id: int, state: JobState, now: float, error: str | None
    ) -> None:
        conn.execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, fps = NULL,"
            " eta_s = NULL, lease_expires_at = NULL WHERE id = ?",
            (state.value, error, now, now, job_id),
        )


def _holder(row: sqlite3.Row) -> ProcessIdentity | None:
    """The process that claimed a PROCESSING row; None for rows claimed before it was recorded."""
    if row["worker_host"] is None or row["worker_pid"] is None or row["worker_started_at"] is None:
        return None
    return ProcessIdentity(row["worker_host"], int(row["worker_pid"]), float(row["worker_started_at"]))


def _one_line(text: str, limit: int = 500) -> str:
    """Errors and warnings are shown in one table cell / one log line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
