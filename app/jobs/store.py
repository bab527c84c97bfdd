"""The job queue: one SQLite file, the single source of truth for every worker, thread and process.

JobStore is the one class callers use; its parts, one module each:
    transactions.py  the connection (one per store object and process) and the write transaction
    queries.py       reads: get, list, changed_since, counts, next_pending_at
    leases.py        the running job's worker: claim, heartbeat, progress, warnings (Lease)
    settling.py      how an attempt ends: complete, fail, acknowledge_cancel, release
    recovery.py      reclaiming dead workers' jobs: recover_stale, has_orphans
    user_actions.py  add, cancel, retry, remove; a job's folder
    transitions.py   the steps the writes are made of (requeue, set_final, partials_left_by)

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

from .leases import JobLeases
from .queries import JobQueries
from .recovery import JobRecovery
from .settling import JobSettling
from .user_actions import JobUserActions


class JobStore(JobQueries, JobUserActions, JobLeases, JobSettling, JobRecovery):
    """The job queue at one SQLite file: `JobStore(db_path, events=bus)`, then add, claim, settle..."""

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
