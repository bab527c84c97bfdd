"""Executors decide WHERE jobs run; the store decides which job is next, the runner how frames are
swapped. LocalExecutor runs N workers on threads of this process. A Ray executor (later) keeps the
claiming here and hands each claimed job to a remote actor through a JobRunner proxy that relays
progress back — the same Worker loop, another runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from .model import Job
from .store import JobStore
from .worker import RunnerFactory, Worker

_log = logging.getLogger(__name__)


class Executor(Protocol):
    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        """Begin serving the queue without blocking: until no job is PENDING (default), until
        stopped (`forever`), or until the given jobs are final (`job_ids`)."""
        ...

    def stop(self) -> None:
        """Ask every worker to stop; running jobs go back to PENDING, attempts not counted."""
        ...

    def join(self, timeout: float | None = None) -> bool:
        """Wait; True once every worker has ended. Re-raises a worker's crash."""
        ...

    @property
    def finished(self) -> list[Job]:
        """Jobs settled so far, as the workers left them."""
        ...


class LocalExecutor:
    def __init__(
        self,
        store: JobStore,
        runner_factory: RunnerFactory,
        workers: int = 1,
        poll_s: float = 0.5,
        lease_s: float = 30.0,
        progress_interval_s: float = 0.25,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store = store
        self.runner_factory = runner_factory
        self.count = workers
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.progress_interval_s = progress_interval_s
        self.workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        # join() waits on this, not on Thread.join: in Python < 3.13 a Ctrl-C that interrupts
        # Thread.join can make is_alive() report a still-running thread as finished.
        self._ended = threading.Condition()
        self._running = 0

    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        if self._threads:
            raise RuntimeError("this executor was already started")
        # Runners are made here, on the caller's thread, so "the runner cannot load" is reported
        # before any thread starts. One runner per worker: engines hold per-session state.
        self.workers = [
            Worker(
                self.store,
                self.runner_factory(),
                poll_s=self.poll_s,
                lease_s=self.lease_s,
                progress_interval_s=self.progress_interval_s,
            )
            for _ in range(self.count)
        ]
        self._running = len(self.workers)
        for index, worker in enumerate(self.workers):
            thread = threading.Thread(
                target=self._serve,
                args=(worker, forever, list(job_ids) if job_ids is not None else None),
                name=f"swapcast-worker-{index}",
                daemon=True,  # a hard exit must not hang on a worker; stop() is the clean way
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, worker: Worker, forever: bool, job_ids: list[int] | None) -> None:
        try:
            if job_ids is not None:
                worker.run_until(job_ids, stop_event=self._stop)
            elif forever:
                worker.run_forever(self._stop)
            else:
                worker.run_until_empty(self._stop)
        except BaseException as error:  # reported by join() on the caller's thread
            _log.exception("worker %s crashed", worker.worker_id)
            self._errors.append(error)
            self._stop.set()  # one crashed worker (e.g. the DB is gone) stops the others
        finally:
            with self._ended:
                self._running -= 1
                self._ended.notify_all()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        with self._ended:
            if not self._ended.wait_for(lambda: self._running == 0, timeout):
                return False
        for thread in self._threads:
            thread.join()  # only the last few instructions of _serve are left
        if self._errors:
            raise self._errors[0]
        return True

    @property
    def finished(self) -> list[Job]:
        return sorted((job for worker in self.workers for job in worker.finished), key=lambda j: j.id)

    def run(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> list[Job]:
        """start() and join(); Ctrl-C stops the workers (their jobs go back to the queue) and
        re-raises."""
        self.start(forever=forever, job_ids=job_ids)
        try:
            while not self.join(timeout=0.2):
                pass
        except KeyboardInterrupt:
            self.stop()
            self.join()
            raise
        return self.finished
