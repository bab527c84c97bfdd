"""`swapcast swap` still shows progress when a worker in another process runs its job."""

from __future__ import annotations

from app.cli.swap_cmd import _OtherWorkerRelay
from app.jobs.events import EventBus, EventKind
from app.jobs.store import JobStore
from test_jobs_fakes import make_spec


def test_progress_of_a_job_claimed_by_another_process_reaches_our_bus(tmp_path) -> None:
    bus = EventBus()
    with JobStore(tmp_path / "jobs.db", events=bus) as store, bus.subscribe() as events:
        job = store.add(make_spec())
        claimed = store.claim("otherhost:4242:abc123", lease_s=30)
        assert claimed is not None and claimed.id == job.id
        events.drain()
        relay = _OtherWorkerRelay(store, bus, job.id, interval_s=0.05)
        relay.start()
        try:
            # The other process writes progress through its own connection: nothing reaches our bus
            # unless the relay reads it from the database.
            with JobStore(tmp_path / "jobs.db") as other:
                other.update_progress(job.id, 10, 90, 25.0, 3.2, worker_id="otherhost:4242:abc123")
            relayed = []
            for _ in range(100):
                event = events.get(timeout=0.1)
                if event is not None and event.kind is EventKind.PROGRESS:
                    relayed.append(event)
                    if event.progress.done == 10:
                        break
        finally:
            relay.stop()
            relay.join(2)
        assert any(event.progress.done == 10 and event.progress.total == 90 for event in relayed)
