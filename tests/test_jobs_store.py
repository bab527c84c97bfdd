"""JobStore: state transitions, leases, back-off, recovery, persistence, atomic claims."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from app.jobs.database import _MIGRATIONS, SCHEMA_VERSION
from app.jobs.errors import JobNotFound, JobStateError, JobStoreError
from app.jobs.events import EventBus, EventKind
from app.jobs.leases import Lease
from app.jobs.model import JobState
from app.jobs.store import JobStore
from engines.errors import InputError
from test_jobs_fakes import FakeClock, make_spec


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store(tmp_path: Path, clock: FakeClock) -> JobStore:
    with JobStore(tmp_path / "jobs.sqlite3", clock=clock, backoff_base_s=10, backoff_cap_s=25) as opened:
        yield opened


def test_default_location_is_the_user_data_folder(swapcast_home: Path) -> None:
    with JobStore() as store:
        assert store.path == swapcast_home / "data" / "jobs.sqlite3" and store.path.exists()


def test_add_get_list(store: JobStore, clock: FakeClock) -> None:
    first = store.add(make_spec("ok", "1"))
    second = store.add(make_spec("ok", "2"))
    assert (first.id, second.id) == (1, 2)
    assert first.state is JobState.PENDING and first.attempts == 0 and first.created_at == clock.now
    assert store.get(1) == first
    assert [job.id for job in store.list()] == [1, 2]
    store.cancel(1)
    assert [job.id for job in store.list([JobState.PENDING])] == [2]
    assert [job.id for job in store.list([JobState.CANCELLED, JobState.PENDING])] == [1, 2]
    assert store.list([]) == []
    with pytest.raises(JobNotFound, match="no job with id 9"):
        store.get(9)


def test_add_rejects_a_malformed_spec(store: JobStore) -> None:
    spec = make_spec()
    with pytest.raises(InputError, match="quality"):
        store.add(type(spec)(sources=spec.sources, targets=spec.targets, output=spec.output, quality=500))
    assert store.list() == []


def test_claim_takes_the_oldest_pending_job_once(store: JobStore, clock: FakeClock) -> None:
    for name in "abc":
        store.add(make_spec("ok", name))
    job = store.claim("w1", lease_s=30)
    assert job is not None and job.id == 1 and job.state is JobState.PROCESSING
    assert job.attempts == 1 and job.worker_id == "w1" and job.lease_expires_at == clock.now + 30
    assert job.started_at == clock.now
    assert store.claim("w2", 30, job_ids=[1]) is None  # already taken
    assert store.claim("w2", 30, job_ids=[3]).id == 3  # restricted to the given ids
    assert store.claim("w2", 30).id == 2
    assert store.claim("w2", 30) is None
    assert store.claim("w2", 30, job_ids=[]) is None


def test_complete_records_output_and_merges_warnings(store: JobStore, clock: FakeClock) -> None:
    store.add(make_spec())
    job = store.claim("w1", 30)
    store.add_warning(job.id, "no face in\nframe 2")
    assert store.complete(job.id, "/out.mp4", ["audio dropped", "no face in frame 2"], worker_id="other") is None
    clock.advance(5)
    done = store.complete(job.id, "/out.mp4", ["audio dropped", "no face in frame 2"], worker_id="w1")
    assert done is not None and done.state is JobState.COMPLETED and done.output == "/out.mp4"
    assert done.warnings == ["no face in frame 2", "audio dropped"]  # one line each, no duplicates
    assert done.finished_at == clock.now and done.lease_expires_at is None
    assert store.complete(job.id, "/again.mp4") is None  # not PROCESSING any more


def test_progress_renews_the_lease_and_reports_cancel(store: JobStore, clock: FakeClock) -> None:
    store.add(make_spec())
    job = store.claim("w1", 30)
    clock.advance(20)
    assert store.update_progress(job.id, 5, 10, 2.5, 2.0, worker_id="w1") is Lease.OWNED
    current = store.get(job.id)
    assert (current.progress.done, current.progress.total, current.fps, current.eta_s) == (5, 10, 2.5, 2.0)
    assert current.lease_expires_at == clock.now + 30
    clock.advance(20)
    assert store.heartbeat(job.id, "w1") is Lease.OWNED
    assert store.get(job.id).lease_expires_at == clock.now + 30
    assert store.heartbeat(job.id, "intruder") is Lease.LOST
    assert store.update_progress(job.id, 6, 10, None, None, worker_id="intruder") is Lease.LOST
    assert store.get(job.id).progress.done == 5

    cancelling = store.cancel(job.id)
    assert cancelling.state is JobState.PROCESSING and cancelling.cancel_requested
    assert store.heartbeat(job.id, "w1") is Lease.CANCEL_REQUESTED
    assert store.update_progress(job.id, 6, 10, None, None, worker_id="w1") is Lease.CANCEL_REQUESTED
    cancelled = store.acknowledge_cancel(job.id, worker_id="w1")
    assert cancelled is not None and cancelled.state is JobState.CANCELLED


def test_transient_failures_back_off_exponentially_then_fail(store: JobStore, clock: FakeClock) -> None:
    assert [store.backoff_s(n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]  # capped at 25
    job_id = store.add(make_spec()).id
    store.claim("w1", 30)
    retrying = store.fail(job_id, "GPU out of memory", transient=True, worker_id="w1")
    assert retrying.state is JobState.PENDING and retrying.error == "GPU out of memory"
    assert retrying.next_attempt_at == clock.now + 10 and retrying.worker_id is None
    assert store.claim("w1", 30) is None  # still backing off
    clock.advance(10)
    assert store.claim("w1", 30).attempts == 2
    assert store.fail(job_id, "GPU out of memory", transient=True).next_attempt_at == clock.now + 20
    clock.advance(20)
    assert store.claim("w1", 30).attempts == 3
    failed = store.fail(job_id, "GPU out of memory", transient=True)
    assert failed.state is JobState.FAILED
    assert failed.error == "GPU out of memory (gave up after 3 attempts)" and failed.finished_at == clock.now


def test_permanent_failure_fails_at_once(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w1", 30)
    failed = store.fail(job_id, "no face found in\n target.mp4", transient=False, worker_id="w1")
    assert failed.state is JobState.FAILED and failed.error == "no face found in target.mp4"
    assert failed.attempts == 1
    assert store.fail(job_id, "again", transient=False) is None


def test_cancel_pending_and_final_jobs(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    cancelled = store.cancel(job_id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert store.cancel(job_id).state is JobState.CANCELLED  # idempotent
    assert store.claim("w1", 30) is None
    done_id = store.add(make_spec()).id
    store.claim("w1", 30)
    store.complete(done_id, "/out.mp4")
    with pytest.raises(JobStateError, match="already completed"):
        store.cancel(done_id)
    with pytest.raises(JobNotFound):
        store.cancel(99)


def test_failing_or_releasing_a_job_whose_cancel_was_requested_cancels_it(store: JobStore) -> None:
    first = store.add(make_spec()).id
    second = store.add(make_spec()).id
    store.claim("w1", 30, job_ids=[first])
    store.claim("w1", 30, job_ids=[second])
    store.cancel(first)
    store.cancel(second)
    assert store.fail(first, "GPU out of memory", transient=True).state is JobState.CANCELLED
    assert store.release(second).state is JobState.CANCELLED


def test_retry_reruns_finished_jobs_with_attempts_reset(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w1", 30)
    store.add_warning(job_id, "something odd")
    store.fail(job_id, "broken", transient=False)
    again = store.retry(job_id)
    assert again.state is JobState.PENDING and again.attempts == 0 and again.error is None
    assert again.warnings == [] and again.finished_at is None
    with pytest.raises(JobStateError, match="is pending"):
        store.retry(job_id)
    store.claim("w1", 30)
    with pytest.raises(JobStateError, match="is processing"):
        store.retry(job_id)
    store.complete(job_id, "/out.mp4")
    rerun = store.retry(job_id, overwrite=True)  # re-run of a completed job, replacing its output
    assert rerun.state is JobState.PENDING and rerun.output is None and rerun.spec.overwrite is True
    store.cancel(job_id)
    assert store.retry(job_id).state is JobState.PENDING


def test_remove_not_while_processing_and_ids_are_not_reused(store: JobStore) -> None:
    first = store.add(make_spec()).id
    second = store.add(make_spec()).id
    store.claim("w1", 30, job_ids=[second])
    with pytest.raises(JobStateError, match="running"):
        store.remove(second)
    store.remove(first)
    with pytest.raises(JobNotFound):
        store.get(first)
    with pytest.raises(JobNotFound):
        store.remove(first)
    store.complete(second, "/out.mp4")
    store.remove(second)
    assert store.add(make_spec()).id == 3


def test_release_requeues_without_counting_the_attempt(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w1", 30)
    released = store.release(job_id, worker_id="w1")
    assert released.state is JobState.PENDING and released.attempts == 0 and released.worker_id is None
    assert store.claim("w2", 30).id == job_id  # claimable at once


def test_recover_stale_requeues_expired_leases_only(store: JobStore, clock: FakeClock) -> None:
    dead = store.add(make_spec("ok", "dead")).id
    alive = store.add(make_spec("ok", "alive")).id
    store.claim("w-dead", 10, job_ids=[dead])
    store.claim("w-alive", 10, job_ids=[alive])
    clock.advance(8)
    store.heartbeat(alive, "w-alive")
    assert store.recover_stale() == []  # nothing expired yet
    clock.advance(5)
    recovered = store.recover_stale()
    assert [job.id for job in recovered] == [dead]
    job = store.get(dead)
    assert job.state is JobState.PENDING and job.attempts == 1 and job.worker_id is None
    assert any("w-dead stopped responding" in warning for warning in job.warnings)
    assert store.get(alive).state is JobState.PROCESSING
    # The late worker's writes no longer land.
    assert store.update_progress(dead, 1, 2, None, None, worker_id="w-dead") is Lease.LOST
    assert store.complete(dead, "/out.mp4", worker_id="w-dead") is None
    # The attempt counted: a job that keeps killing its worker ends FAILED.
    for attempt in (2, 3):
        assert store.claim("w", 10, job_ids=[dead]).attempts == attempt
        clock.advance(11)
        store.recover_stale()
    failed = store.get(dead)
    assert failed.state is JobState.FAILED and "stopped responding 3 times" in failed.error


def test_recover_stale_cancels_a_dead_workers_job_whose_cancel_was_requested(
    store: JobStore, clock: FakeClock
) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w1", 10)
    store.cancel(job_id)
    assert [job.state for job in store.recover_stale(now=clock.now + 11)] == [JobState.CANCELLED]


def test_jobs_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with JobStore(path) as store:
        done = store.add(make_spec("ok", "done")).id
        store.claim("w1", 30)
        store.update_progress(done, 3, 4, 1.0, 1.0)
        store.complete(done, "/final.mp4", ["note"])
        pending = store.add(make_spec("ok", "pending")).id
    with JobStore(path) as reopened:
        jobs = {job.id: job for job in reopened.list()}
        assert jobs[done].state is JobState.COMPLETED and jobs[done].output == "/final.mp4"
        assert jobs[done].warnings == ["note"] and jobs[done].progress.done == 3
        assert jobs[pending].state is JobState.PENDING and jobs[pending].spec == make_spec("ok", "pending")
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    finally:
        connection.close()


def test_a_version_1_database_is_upgraded_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    connection = sqlite3.connect(path)
    for statement in _MIGRATIONS[1]:
        connection.execute(statement)
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    connection.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    connection.execute(
        "INSERT INTO jobs (spec, state, max_attempts, created_at, updated_at, next_attempt_at)"
        " VALUES (?, 'PENDING', 3, 1, 1, 1)", (make_spec("ok", "old").to_json(),),
    )
    connection.commit()
    connection.close()
    with JobStore(path) as store:
        assert [job.spec for job in store.list()] == [make_spec("ok", "old")]
        assert store.claim("w1", 30) is not None  # the new columns are written on claim


def test_a_newer_schema_or_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    JobStore(newer).close()
    connection = sqlite3.connect(newer)
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(JobStoreError, match="newer SwapCast"):
        JobStore(newer)
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JobStoreError, match="cannot be used"):
        JobStore(corrupt)


def test_every_change_is_published_after_commit(tmp_path: Path) -> None:
    bus = EventBus()
    with JobStore(tmp_path / "jobs.sqlite3", events=bus) as store, bus.subscribe() as events:
        job_id = store.add(make_spec()).id
        store.claim("w1", 30)
        store.update_progress(job_id, 1, 2, None, None, worker_id="w1")
        store.add_warning(job_id, "careful")
        store.complete(job_id, "/out.mp4", worker_id="w1")
        store.remove(job_id)
        seen = [(event.kind, event.state) for event in events.drain()]
    assert seen == [
        (EventKind.ADDED, JobState.PENDING),
        (EventKind.STATE, JobState.PROCESSING),
        (EventKind.PROGRESS, JobState.PROCESSING),
        (EventKind.WARNING, JobState.PROCESSING),
        (EventKind.STATE, JobState.COMPLETED),
        (EventKind.REMOVED, JobState.COMPLETED),
    ]


def test_four_threads_with_their_own_connections_claim_each_job_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with JobStore(path) as store:
        for index in range(30):
            store.add(make_spec("ok", str(index)))
    claimed: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def claimer(slot: int) -> None:
        with JobStore(path) as own:
            barrier.wait()
            while (job := own.claim(f"w{slot}", 30)) is not None:
                claimed[slot].append(job.id)
                own.complete(job.id, "/out", worker_id=f"w{slot}")

    threads = [threading.Thread(target=claimer, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = sorted(job_id for ids in claimed for job_id in ids)
    assert everything == list(range(1, 31))
    with JobStore(path) as store:
        assert all(job.state is JobState.COMPLETED and job.attempts == 1 for job in store.list())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_the_database_and_its_wal_files_are_owner_only(swapcast_home: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask: files 0644, folders 0755
    try:
        with JobStore() as store:
            store.add(make_spec())  # a write: the -wal and -shm files exist now
            db = store.path
            files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
            assert all(file.exists() for file in files)
            assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in files} == {
                file.name: 0o600 for file in files
            }
            assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700  # the folder it created
    finally:
        os.umask(old_umask)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_readable_database_of_an_older_version_becomes_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    with JobStore(db) as store:
        store.add(make_spec())
    for file in tmp_path.iterdir():
        file.chmod(0o644)
    with JobStore(db) as store:
        assert len(store.list()) == 1
    modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in tmp_path.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


def _set_owner(store: JobStore, job_id: int, **columns: object) -> None:
    """Rewrite who holds a job, as another process on this (or another) host would have written it."""
    connection = sqlite3.connect(store.path)
    try:
        for column, value in columns.items():
            connection.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job_id))
        connection.commit()
    finally:
        connection.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_job_whose_process_ended_on_this_host_is_recovered_before_its_lease_ends(
    store: JobStore, clock: FakeClock
) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w-gone", lease_s=3600)
    _set_owner(store, job_id, worker_pid=_dead_pid())
    recovered = store.recover_stale()  # the clock has not moved: the lease is far from over
    assert [job.id for job in recovered] == [job_id]
    job = store.get(job_id)
    assert job.state is JobState.PENDING and job.attempts == 1 and job.worker_id is None
    assert any("w-gone" in warning and "ended" in warning for warning in job.warnings)


def test_a_reused_pid_is_not_taken_for_the_worker_that_claimed_the_job(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    store.claim("w-old", lease_s=3600)
    # Our own (living) pid, but the process that claimed the job started long before this one.
    _set_owner(store, job_id, worker_pid=os.getpid(), worker_started_at=psutil.Process().create_time() - 1000)
    assert [job.id for job in store.recover_stale()] == [job_id]


def test_a_living_worker_or_one_on_another_host_keeps_its_job_until_the_lease_ends(
    store: JobStore, clock: FakeClock
) -> None:
    ours = store.add(make_spec("ok", "ours")).id
    remote = store.add(make_spec("ok", "remote")).id
    store.claim("w-here", 60, job_ids=[ours])  # this process: alive
    store.claim("w-there", 60, job_ids=[remote])
    _set_owner(store, remote, worker_host="another-machine", worker_pid=_dead_pid())
    assert store.recover_stale() == []  # a pid on another machine says nothing here
    clock.advance(61)
    assert sorted(job.id for job in store.recover_stale()) == [ours, remote]
