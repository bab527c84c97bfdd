"""EventBus delivery and back-pressure, and watch() following a job through the database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.jobs.errors import JobNotFound
from app.jobs.events import EventBus, EventKind, JobEvent, watch
from app.jobs.model import JobState, Progress
from app.jobs.store import JobStore
from app.jobs.worker import Worker
from test_jobs_fakes import FakeRunner, make_spec


def progress(job_id: int, done: int) -> JobEvent:
    return JobEvent(job_id, EventKind.PROGRESS, JobState.PROCESSING, Progress(done, 100))


def state(job_id: int, value: JobState) -> JobEvent:
    return JobEvent(job_id, EventKind.STATE, value)


def test_subscribers_get_events_in_order_filtered_by_job() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    only_two = bus.subscribe(job_ids=[2])
    for event in (state(1, JobState.PROCESSING), progress(2, 1), progress(1, 5), state(2, JobState.COMPLETED)):
        bus.publish(event)
    assert [(e.job_id, e.kind) for e in everything.drain()] == [
        (1, EventKind.STATE), (2, EventKind.PROGRESS), (1, EventKind.PROGRESS), (2, EventKind.STATE),
    ]
    assert [e.state for e in only_two.drain()] == [JobState.PROCESSING, JobState.COMPLETED]
    only_two.close()
    assert bus.subscriber_count == 1
    bus.publish(progress(2, 2))
    assert only_two.drain() == []


def test_a_slow_subscriber_loses_old_progress_never_state_changes() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=4)
    bus.publish(state(1, JobState.PROCESSING))
    for done in range(1, 11):
        bus.publish(progress(1, done))
    bus.publish(state(1, JobState.COMPLETED))
    kept = slow.drain()
    assert kept[0].state is JobState.PROCESSING and kept[-1].state is JobState.COMPLETED
    assert len(kept) == 4  # the COMPLETED event made room by dropping the oldest progress tick
    assert [e.progress.done for e in kept if e.kind is EventKind.PROGRESS] == [9, 10]
    assert slow.dropped == 8
    # Only state events queued: an incoming progress tick is skipped, state events still queue.
    for value in (JobState.PENDING, JobState.PROCESSING, JobState.FAILED, JobState.PENDING):
        bus.publish(state(1, value))
    bus.publish(progress(1, 1))
    bus.publish(state(1, JobState.COMPLETED))
    assert [e.kind for e in slow.drain()] == [EventKind.STATE] * 5


def test_publishing_never_blocks_on_or_fails_with_a_subscriber() -> None:
    bus = EventBus()
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("subscriber bug")

    never_read = bus.subscribe(maxsize=2, on_ready=broken)
    for done in range(200):
        bus.publish(progress(1, done))  # returns although nobody reads, and despite the bug
    assert len(calls) == 200 and len(never_read.drain()) == 2


def test_get_waits_for_an_event_and_iteration_ends_on_close() -> None:
    bus = EventBus()
    subscription = bus.subscribe()
    assert subscription.get(timeout=0.01) is None
    received: list[JobEvent] = []
    reader = threading.Thread(target=lambda: received.extend(subscription))
    reader.start()
    bus.publish(state(1, JobState.PROCESSING))
    bus.publish(state(1, JobState.COMPLETED))
    threading.Timer(0.05, subscription.close).start()
    reader.join(10)
    assert not reader.is_alive()
    assert [e.state for e in received] == [JobState.PROCESSING, JobState.COMPLETED]


def test_event_dicts_are_json_friendly() -> None:
    data = progress(3, 25).to_dict()
    assert data["job_id"] == 3 and data["kind"] == "progress" and data["state"] == "PROCESSING"
    assert data["progress"] == 0.25


def test_watch_follows_a_job_run_by_another_worker_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with JobStore(path) as viewer:
        job_id = viewer.add(make_spec("warn")).id
        # The worker has its own store (its own connection, as another process would) and no bus.
        worker_store = JobStore(path)
        worker = Worker(worker_store, FakeRunner(frames=20, frame_delay_s=0.01), poll_s=0.01, progress_interval_s=0.0)
        thread = threading.Thread(target=worker.run_until_empty)
        thread.start()
        try:
            seen = list(watch(viewer, job_id, interval=0.01, timeout=30))
        finally:
            thread.join(30)
            worker_store.close()
    assert seen[0].kind is EventKind.STATE
    assert seen[-1].state is JobState.COMPLETED and seen[-1].message == make_spec("warn").output
    assert JobState.PROCESSING in {e.state for e in seen}
    done = [e.progress.done for e in seen if e.kind is EventKind.PROGRESS]
    assert done == sorted(done)
    assert "no face in frame 2" in [e.message for e in seen if e.kind is EventKind.WARNING]


def test_watch_ends_on_removal_and_rejects_unknown_ids(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job_id = store.add(make_spec()).id
        events = watch(store, job_id, interval=0.01)
        assert next(events).state is JobState.PENDING
        store.remove(job_id)
        assert next(events).kind is EventKind.REMOVED
        assert list(events) == []
        with pytest.raises(JobNotFound):
            next(watch(store, 42))
        pending = store.add(make_spec()).id
        with pytest.raises(TimeoutError):
            list(watch(store, pending, interval=0.01, timeout=0.05))
