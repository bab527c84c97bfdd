"""Claiming a job and holding it: the lease a worker renews with heartbeats and progress, and what
the renewal tells it (go on, stop for a cancel, or stop quietly: the job is no longer its own).

A PROCESSING job holds a lease (worker_id + lease_expires_at) and records the process that claimed
it (ownership.py); recovery.py re-queues the job of a worker that stopped renewing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from enum import Enum
from typing import Any

from .events import EventKind, JobEvent
from .model import Job, JobState
from .ownership import this_process
from .transactions import StoreTransactions
from .transitions import FRESH_ATTEMPT, find_job, get_job, one_line


class Lease(str, Enum):
    """What a running job's worker learns when it renews its lease."""

    OWNED = "owned"  # carry on
    CANCEL_REQUESTED = "cancel_requested"  # stop: the user cancelled
    LOST = "lost"  # stop quietly: the job is no longer ours (recovered by another worker, removed)


class JobLeases(StoreTransactions):
    """JobStore's part for the running job's worker: claim, heartbeat, progress, warnings."""

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
                " worker_host = ?, worker_pid = ?, worker_started_at = ?, " + FRESH_ATTEMPT +
                " WHERE id = ? AND state = 'PENDING'",
                (worker_id, now, lease_s, now + lease_s, now, owner.host, owner.pid, owner.started_at, row["id"]),
            )
            job = get_job(conn, row["id"])
            events.append(JobEvent.from_job(job, EventKind.STATE))
        return job

    def heartbeat(self, job_id: int, worker_id: str) -> Lease:
        """Extend the lease of a job this worker runs; says whether to go on."""
        now = self.clock()
        with self._write() as (conn, _):
            return _renew(conn, job_id, worker_id, now)

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
                lease = _renew(conn, job_id, worker_id, now)
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
            events.append(JobEvent.from_job(get_job(conn, job_id), EventKind.PROGRESS))
            return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.OWNED

    def update_segments(self, job_id: int, done: int, total: int, *, worker_id: str | None = None) -> None:
        """Record how many segments of a split video are swapped (shown beside the frame progress)."""
        with self._write() as (conn, events):
            query = "UPDATE jobs SET segments_done = ?, segments_total = ? WHERE id = ? AND state = 'PROCESSING'"
            params: tuple[object, ...] = (int(done), int(total), job_id)
            if worker_id is not None:
                query, params = query + " AND worker_id = ?", (*params, worker_id)
            if conn.execute(query, params).rowcount:
                events.append(JobEvent.from_job(get_job(conn, job_id), EventKind.PROGRESS))

    def add_warning(self, job_id: int, message: str) -> None:
        """Keep a warning with the job (shown by `jobs show` and in the events) at once."""
        message = one_line(message)
        with self._write() as (conn, events):
            job = find_job(conn, job_id)
            if job is None:
                return
            if message not in job.warnings:
                conn.execute(
                    "UPDATE jobs SET warnings = ?, updated_at = ? WHERE id = ?",
                    (json.dumps([*job.warnings, message]), self.clock(), job_id),
                )
            events.append(JobEvent.from_job(job, EventKind.WARNING, message=message))


def _renew(conn: sqlite3.Connection, job_id: int, worker_id: str, now: float) -> Lease:
    cursor = conn.execute(
        "UPDATE jobs SET lease_expires_at = ? + lease_s"
        " WHERE id = ? AND worker_id = ? AND state = 'PROCESSING'",
        (now, job_id, worker_id),
    )
    if cursor.rowcount == 0:
        return Lease.LOST
    row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.OWNED
