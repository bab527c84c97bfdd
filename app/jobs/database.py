"""The jobs database file: its schema and migrations, how a connection is opened, and rows → Jobs.

JobStore (store.py and its parts) holds the queue's rules (claims, leases, retries); this module only knows SQLite.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from .errors import JobStoreError
from .model import Job, JobSpec, JobState, Progress, StoredOutput

SCHEMA_VERSION = 4

# Each entry upgrades the schema from version N-1 to N. Never edit a released entry: add one.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """
        CREATE TABLE jobs (
            -- AUTOINCREMENT: ids of removed jobs are never reused, so an id a client (CLI script,
            -- HTTP API) holds can never start naming a different job.
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            spec TEXT NOT NULL,
            state TEXT NOT NULL,
            frames_done INTEGER NOT NULL DEFAULT 0,
            frames_total INTEGER NOT NULL DEFAULT 0,
            fps REAL,
            eta_s REAL,
            error TEXT,
            warnings TEXT NOT NULL DEFAULT '[]',
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            updated_at REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            worker_id TEXT,
            lease_s REAL,
            lease_expires_at REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            output TEXT
        )
        """,
        "CREATE INDEX jobs_claim ON jobs (state, next_attempt_at, id)",
    ),
    # Which process holds a PROCESSING job: a job whose process is gone from this host is
    # reclaimed at once instead of after its lease. The start time tells a reused pid apart.
    2: (
        "ALTER TABLE jobs ADD COLUMN worker_host TEXT",
        "ALTER TABLE jobs ADD COLUMN worker_pid INTEGER",
        "ALTER TABLE jobs ADD COLUMN worker_started_at REAL",
    ),
    # Uploaded outputs (remote -o): a JSON list of {uri, size, sha256, presigned_url, presigned_expires_at}.
    # Never credentials: those come from the environment when the job runs.
    3: ("ALTER TABLE jobs ADD COLUMN objects TEXT",),
    # Segments of a long video swapped so far (the Ray executor): NULL for a job that is not split.
    4: ("ALTER TABLE jobs ADD COLUMN segments_done INTEGER", "ALTER TABLE jobs ADD COLUMN segments_total INTEGER"),
}

# The queue holds the paths of the user's photos and videos: owner-only, like the consent file.
FILE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")


def open_database(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection in WAL mode with the schema up to date; an unusable file → JobStoreError."""
    conn: sqlite3.Connection | None = None
    try:
        make_private(path)
        conn = sqlite3.connect(
            str(path),
            timeout=busy_timeout_s,
            isolation_level=None,  # autocommit: the store issues BEGIN IMMEDIATE / COMMIT itself
            check_same_thread=False,  # shared by one store's threads, under its lock
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a job the user added is still there after a power cut. Writes are a few per
        # second per running job, so the fsync per commit costs nothing that matters.
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, path)
    except BaseException as error:
        if conn is not None:
            conn.close()
        if isinstance(error, OSError):
            raise JobStoreError(
                f"the jobs database {path} cannot be opened ({error.strerror or error})",
                "check that you can read and write it and its folder",
            ) from error
        if not isinstance(error, sqlite3.DatabaseError):
            raise
        raise JobStoreError(
            f"the jobs database {path} cannot be used ({error})",
            "move the file away; SwapCast makes a new, empty queue",
        ) from error
    return conn


def make_private(path: Path) -> None:
    """Create the file owner-only, or take an older 0644 one back to 0600 (with its -wal/-shm).

    SQLite gives the -wal and -shm files it creates the mode of the database file, so a 0600
    database keeps them private too.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)  # the mode applies only when created
    os.close(fd)
    for file in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            if stat.S_IMODE(file.stat().st_mode) & 0o077:
                file.chmod(FILE_MODE)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's file (a shared queue): not ours to change
            pass


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION; a file from a newer SwapCast is refused."""
    conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file at once: one migrates
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise JobStoreError(
                f"the jobs database {path} was written by a newer SwapCast (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION})",
                "update SwapCast, or move the file away to start an empty queue",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=int(row["id"]),
        spec=JobSpec.from_json(row["spec"]),
        state=JobState(row["state"]),
        progress=Progress(int(row["frames_done"]), int(row["frames_total"])),
        fps=row["fps"],
        eta_s=row["eta_s"],
        error=row["error"],
        warnings=list(json.loads(row["warnings"] or "[]")),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        created_at=float(row["created_at"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=float(row["updated_at"]),
        next_attempt_at=float(row["next_attempt_at"]),
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=bool(row["cancel_requested"]),
        output=row["output"],
        objects=[StoredOutput.from_dict(item) for item in json.loads(row["objects"] or "[]")],
        segments=Progress(int(row["segments_done"]), int(row["segments_total"])) if row["segments_total"] else None,
    )
