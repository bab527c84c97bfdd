"""Worker and LocalExecutor with the FakeRunner: outcomes, retries, cancel, stop, events, threads."""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.jobs.events import EventBus, EventKind
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.jobs.worker import RateMeter, Worker
from test_jobs_fakes import FakeRunner, make_spec

WAIT_S = 20.0  # upper bound for anything a test waits on; normally reached in milliseconds


@pytest.fixture()
def bus() -> EventBus:
    return EventBus()


@pytest.fixture()
def store(tmp_path: Path, bus: EventBus) -> Iterator[JobStore]:
    with JobStore(tmp_path / "jobs.sqlite3", events=bus, backoff_base_s=0.05, backoff_cap_s=0.2) as opened:
        yield opened


def fast_worker(store: JobStore, runner: FakeRunner, **kwargs: float) -> Worker:
    options = {"poll_s": 0.01, "lease_s": 5.0, "progress_interval_s": 0.0, **kwargs}
    return Worker(store, runner, **options)


def wait_until(condition, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_run_until_empty_completes_every_job_in_order(store: JobStore) -> None:
    ids = [store.add(make_spec("ok", str(n))).id for n in range(3)]
    runner = FakeRunner(frames=5)
    settled = fast_worker(store, runner).run_until_empty()
    assert [job.id for job in settled] == ids
    assert [job_id for job_id, _ in runner.calls] == ids
    for job in store.list():
        assert job.state is JobState.COMPLETED and job.output == job.spec.output
        assert (job.progress.done, job.progress.total) == (5, 5) and job.attempts == 1


def test_events_reach_a_subscriber_in_order(store: JobStore, bus: EventBus) -> None:
    with bus.subscribe() as events:
        job_id = store.add(make_spec("warn")).id
        fast_worker(store, FakeRunner(frames=4)).run_until_empty()
        seen = events.drain()
    assert all(event.job_id == job_id for event in seen)
    states = [event.state for event in seen if event.kind in (EventKind.ADDED, EventKind.STATE)]
    assert states == [JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED]
    kinds = [event.kind for event in seen]
    assert kinds.index(EventKind.STATE) < kinds.index(EventKind.PROGRESS) < kinds.index(EventKind.WARNING)
    done = [event.progress.done for event in seen if event.kind is EventKind.PROGRESS]
    assert done == sorted(done) and done[-1] == 4
    assert seen[-1].state is JobState.COMPLETED and seen[-1].message == make_spec("warn").output
    assert [e.message for e in seen if e.kind is EventKind.WARNING] == ["no face in frame 2"]
    assert store.get(job_id).warnings == ["no face in frame 2", "audio track dropped"]


def test_transient_failure_is_retried_with_backoff_then_completes(store: JobStore) -> None:
    job_id = store.add(make_spec("transient2")).id
    runner = FakeRunner()
    fast_worker(store, runner).run_until_empty()
    job = store.get(job_id)
    assert job.state is JobState.COMPLETED and job.attempts == 3
    assert runner.calls == [(job_id, 1), (job_id, 2), (job_id, 3)]


def test_transient_failures_beyond_max_attempts_fail(store: JobStore) -> None:
    job_id = store.add(make_spec("transient5")).id
    fast_worker(store, FakeRunner()).run_until_empty()
    job = store.get(job_id)
    assert job.state is JobState.FAILED and job.attempts == 3
    assert job.error == "GPU out of memory on attempt 3 — retrying (gave up after 3 attempts)"


def test_permanent_failure_fails_at_once_and_the_queue_goes_on(store: JobStore) -> None:
    bad = store.add(make_spec("permanent")).id
    good = store.add(make_spec("ok")).id
    runner = FakeRunner()
    fast_worker(store, runner).run_until_empty()
    failed = store.get(bad)
    assert failed.state is JobState.FAILED and failed.attempts == 1
    assert failed.error == "no face found in permanent-x.mp4"
    assert store.get(good).state is JobState.COMPLETED
    assert runner.calls == [(bad, 1), (good, 1)]


def test_an_unexpected_exception_is_a_one_line_internal_error_with_the_traceback_logged(
    store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    crash = store.add(make_spec("crash")).id
    bad_result = store.add(make_spec("badresult")).id
    with caplog.at_level(logging.ERROR, logger="app.jobs.worker"):
        fast_worker(store, FakeRunner()).run_until_empty()
    assert store.get(crash).error == "internal error: ValueError: boom with a second line"
    assert store.get(crash).state is JobState.FAILED and store.get(crash).attempts == 1
    assert "Traceback" in caplog.text and "boom" in caplog.text
    assert "not RunResult" in store.get(bad_result).error


def run_in_thread(target, *args) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_cancel_stops_a_running_job_and_the_worker_moves_on(store: JobStore) -> None:
    blocked = store.add(make_spec("block")).id
    after = store.add(make_spec("ok")).id
    runner = FakeRunner()
    thread = run_in_thread(fast_worker(store, runner).run_until_empty)
    assert runner.started.wait(WAIT_S)
    assert store.get(blocked).state is JobState.PROCESSING
    store.cancel(blocked)
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert store.get(blocked).state is JobState.CANCELLED
    assert store.get(after).state is JobState.COMPLETED


def test_cancel_reaches_a_runner_that_does_not_report_through_the_heartbeat(store: JobStore) -> None:
    # Progress writes are throttled to once a minute here: only the heartbeat can carry the cancel.
    job_id = store.add(make_spec("block")).id
    runner = FakeRunner()
    worker = fast_worker(store, runner, lease_s=0.15, progress_interval_s=60.0)
    thread = run_in_thread(worker.run_until_empty)
    assert runner.started.wait(WAIT_S)
    store.cancel(job_id)
    thread.join(WAIT_S)
    assert store.get(job_id).state is JobState.CANCELLED


def test_stopping_the_worker_puts_the_running_job_back_uncounted(store: JobStore) -> None:
    job_id = store.add(make_spec("block")).id
    runner = FakeRunner()
    stop = threading.Event()
    thread = run_in_thread(fast_worker(store, runner).run_forever, stop)
    assert runner.started.wait(WAIT_S)
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    job = store.get(job_id)
    assert job.state is JobState.PENDING and job.attempts == 0 and job.worker_id is None


def test_heartbeats_keep_a_long_frame_from_being_recovered(store: JobStore, tmp_path: Path) -> None:
    job_id = store.add(make_spec("stall")).id
    runner = FakeRunner(stall_s=0.6)
    thread = run_in_thread(fast_worker(store, runner, lease_s=0.2).run_until_empty)
    with JobStore(store.path) as other:  # another worker's view, recovering stale jobs meanwhile
        wait_until(lambda: other.get(job_id).state is not JobState.PENDING)
        while thread.is_alive():
            assert other.recover_stale() == []
            time.sleep(0.02)
    job = store.get(job_id)
    assert job.state is JobState.COMPLETED and job.attempts == 1


def test_run_until_runs_only_the_given_jobs(store: JobStore) -> None:
    others = store.add(make_spec("ok", "other")).id
    mine = store.add(make_spec("ok", "mine")).id
    result = fast_worker(store, FakeRunner()).run_job(mine)
    assert result.id == mine and result.state is JobState.COMPLETED
    assert store.get(others).state is JobState.PENDING


def test_run_until_waits_for_another_workers_job_and_times_out(store: JobStore) -> None:
    job_id = store.add(make_spec()).id
    store.claim("someone-else", lease_s=60)
    with pytest.raises(TimeoutError):
        fast_worker(store, FakeRunner()).run_until([job_id], timeout=0.1)


def test_local_executor_with_four_threads_runs_thirty_jobs_exactly_once(store: JobStore, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    for index in range(30):
        store.add(make_spec("ok", str(index)))
    runners: list[FakeRunner] = []

    def factory() -> FakeRunner:
        runners.append(FakeRunner(frames=3, frame_delay_s=0.001, log_path=log))
        return runners[-1]

    executor = LocalExecutor(store, factory, workers=4, poll_s=0.01, lease_s=5.0, progress_interval_s=0.0)
    finished = executor.run()
    assert len(runners) == 4
    runs = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    assert runs == Counter(range(1, 31))
    assert sorted(job.id for job in finished) == list(range(1, 31))
    assert all(job.state is JobState.COMPLETED and job.attempts == 1 for job in store.list())
    assert len({job.worker_id for job in store.list()}) > 1  # the work was shared


def test_local_executor_stop_releases_running_jobs(store: JobStore) -> None:
    ids = [store.add(make_spec("block", str(n))).id for n in range(2)]
    runners: list[FakeRunner] = []

    def factory() -> FakeRunner:
        runners.append(FakeRunner())
        return runners[-1]

    executor = LocalExecutor(store, factory, workers=2, poll_s=0.01, progress_interval_s=0.0)
    executor.start(forever=True)
    assert all(runner.started.wait(WAIT_S) for runner in runners)
    executor.stop()
    assert executor.join(WAIT_S)
    assert [store.get(job_id).state for job_id in ids] == [JobState.PENDING, JobState.PENDING]


def test_a_runner_factory_failure_is_raised_before_any_thread_starts(store: JobStore) -> None:
    def factory() -> FakeRunner:
        raise RuntimeError("no runner here")

    executor = LocalExecutor(store, factory, workers=2)
    with pytest.raises(RuntimeError, match="no runner here"):
        executor.start()
    assert executor.join(0) is True


def test_rate_meter_follows_the_recent_speed() -> None:
    meter = RateMeter(window_s=2.0)
    assert meter.fps() is None
    for second in range(5):
        meter.add(float(second), second * 10)  # 10 fps
    assert meter.fps() == pytest.approx(10.0)
    for second in range(5, 10):
        meter.add(float(second), 40 + (second - 4) * 30)  # then 30 fps
    assert meter.fps() == pytest.approx(30.0)
    meter.add(10.0, 0)  # the runner restarted its count
    assert meter.fps() is None


def test_a_failed_progress_write_does_not_fail_the_job(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    job_id = store.add(make_spec("ok")).id
    real = store.update_progress
    failures = iter([True, False, True])

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "update_progress", flaky)
    fast_worker(store, FakeRunner(frames=5)).run_until_empty()
    job = store.get(job_id)
    assert job.state is JobState.COMPLETED and job.progress.done == 5


def test_a_running_worker_takes_over_the_job_of_a_process_that_died_on_this_host(store: JobStore) -> None:
    stop = threading.Event()
    worker = fast_worker(store, FakeRunner(), lease_s=3600)
    thread = run_in_thread(worker.run_forever, stop)
    try:
        wait_until(lambda: worker._last_recovery > float("-inf"))  # started, recovered once, now polling
        # Another worker process on this machine holds a job (an hour-long lease), and has died.
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        now = time.time()
        connection = sqlite3.connect(store.path)
        try:
            job_id = connection.execute(
                "INSERT INTO jobs (spec, state, max_attempts, created_at, updated_at, next_attempt_at, attempts,"
                " worker_id, lease_s, lease_expires_at, worker_host, worker_pid, worker_started_at)"
                " VALUES (?, 'PROCESSING', 3, ?, ?, ?, 1, 'dead-worker', 3600, ?, ?, ?, ?)",
                (make_spec("ok", "orphan").to_json(), now, now, now, now + 3600, socket.gethostname(), child.pid, now - 1),
            ).lastrowid
            connection.commit()
        finally:
            connection.close()
        # The running worker notices within a poll or two, not after half the hour-long lease.
        wait_until(lambda: store.get(job_id).state is JobState.COMPLETED)
    finally:
        stop.set()
        thread.join(WAIT_S)
    job = store.get(job_id)
    assert job.attempts == 2 and any("dead-worker's process ended" in w for w in job.warnings)
