"""run_in_foreground (`swapcast worker`, `swapcast swap`): Ctrl-C and SIGTERM put running jobs back.

A signal can arrive at any instruction of the main thread, including while the workers are still
being started; these tests deliver it there on purpose instead of hoping a timing hits it.
"""

from __future__ import annotations

import io
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.jobs.console import JobProgressView, run_in_foreground
from app.jobs.events import EventBus
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobState
from app.jobs.store import JobStore
from test_jobs_fakes import FakeRunner, make_spec

WAIT_S = 20.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture()
def bus() -> EventBus:
    return EventBus()


@pytest.fixture()
def store(tmp_path: Path, bus: EventBus) -> Iterator[JobStore]:
    with JobStore(tmp_path / "jobs.sqlite3", events=bus) as opened:
        yield opened


class _SignalWhileStarting(LocalExecutor):
    """Delivers `signum` to this process once its worker runs the job, before start() returns:
    the moment `swapcast worker` is told to stop right after it claimed a job."""

    def __init__(self, runner: FakeRunner, store: JobStore, signum: int) -> None:
        super().__init__(store, lambda: runner, poll_s=0.01, progress_interval_s=0.0)
        self._runner, self._signum = runner, signum

    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        super().start(forever=forever, job_ids=job_ids)
        assert self._runner.started.wait(WAIT_S)  # claimed: the job is PROCESSING now
        signal.raise_signal(self._signum)  # its Python handler runs here, inside start()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_arriving_while_the_workers_start_puts_the_job_back(
    store: JobStore, bus: EventBus, signal_name: str
) -> None:
    job_id = store.add(make_spec("block")).id
    executor = _SignalWhileStarting(FakeRunner(), store, getattr(signal, signal_name))
    shown = io.StringIO()
    try:
        with bus.subscribe() as events:
            finished, interrupted = run_in_foreground(
                executor, events, JobProgressView(file=shown, bars=False), forever=True
            )
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped run_in_foreground: the job was left PROCESSING with no worker")
    finally:
        executor.stop()
        executor.join(WAIT_S)
    assert interrupted
    assert [(job.id, job.state) for job in finished] == [(job_id, JobState.PENDING)]
    job = store.get(job_id)
    assert job.state is JobState.PENDING and job.attempts == 0 and job.worker_id is None
    assert "stopping: running jobs go back to the queue" in shown.getvalue()


def test_the_signal_handlers_are_put_back_afterwards(store: JobStore, bus: EventBus) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    executor = LocalExecutor(store, FakeRunner, poll_s=0.01)
    with bus.subscribe() as events:
        finished, interrupted = run_in_foreground(executor, events, JobProgressView(file=io.StringIO(), bars=False))
    assert (finished, interrupted) == ([], False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
