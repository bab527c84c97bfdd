"""The job store's connection and transactions: what every part of JobStore (store.py) builds on.

One connection per store object, guarded by a lock, shared by that object's threads; after a fork
it is reopened (a SQLite connection must never cross a fork). A write is one `BEGIN IMMEDIATE`
transaction; the events it collects are published, and the partial files it dooms deleted, only
after it commits.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.paths import make_private_folder

from . import partials
from .database import open_database
from .events import EventBus, JobEvent
from .model import Job
from .transitions import partials_left_by

_log = logging.getLogger(__name__)


class StoreTransactions:
    """The queue's file, settings and clock, its connection, and its read and write transactions."""

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

    def _forget_partials(self, conn: sqlite3.Connection, job: Job) -> None:
        """`job` is leaving PROCESSING: its partial files go once this transaction commits."""
        self._doomed += partials_left_by(conn, job)

    def _read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
