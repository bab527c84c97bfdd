"""The studio's side of the job queue: the store, its event stream, and a background executor.

The database stays the one source of truth. The window runs a LocalExecutor (in-process worker
threads) while it is open — or, with "Run on: Ray cluster", a RayExecutor (the same workers, frames
swapped on Ray actors: app.cluster) — and pauses it on request or at exit — a paused or interrupted job goes
back to PENDING and is picked up again next time. Updates reach the GUI two ways: the in-process
EventBus (instant, through an EventPump) and a slow poll of the database (jobs run by a
`swapcast worker` in another process publish nothing here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.jobs import EventBus, Executor, Job, JobEvent, JobSpec, JobStore, LocalExecutor
from app.jobs.worker import RunnerFactory
from app.offline import load_runner_factory

from .bridges import EventPump
from .qt_compat import emit
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)

POLL_MS = 1000


class JobQueue(QObject):
    jobsChanged = Signal(list)  # list[Job]: the whole queue, as read from the database
    eventsArrived = Signal(list)  # list[JobEvent]: what the in-process bus said since the last turn
    runningChanged = Signal(bool)  # the executor serves the queue
    errorRaised = Signal(str)

    def __init__(
        self,
        tasks: BackgroundTasks,
        db_path: Path | None = None,
        runner_factory: RunnerFactory | None = None,
        workers: int = 1,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.bus = EventBus()
        self.store = JobStore(db_path, events=self.bus)
        self._runner_factory = runner_factory  # None: the real runner, loaded when the queue starts
        self._workers = workers
        self.executor: Executor | None = None
        self._starting = False
        self.ray_address: str | None = None  # None: this machine; "": a local Ray (or RAY_ADDRESS); else an address
        self.pump = EventPump(self)
        self.subscription = self.bus.subscribe(on_ready=self.pump.notify, maxsize=512)
        self.pump.ready.connect(self._drain)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.reload)
        self.jobs: list[Job] = []

    # ---- reading ----------------------------------------------------------------------------------
    def reload(self) -> None:
        try:
            self.jobs = self.store.list()
        except Exception as error:  # a locked or vanished DB is shown, never a crash
            emit(self.errorRaised, str(error))
            return
        emit(self.jobsChanged, self.jobs)

    def _drain(self) -> None:
        events: list[JobEvent] = self.subscription.drain()
        if events:
            emit(self.eventsArrived, events)

    # ---- actions ----------------------------------------------------------------------------------
    def add(self, spec: JobSpec) -> Job:
        job = self.store.add(spec)
        self.reload()
        return job

    def cancel(self, job_id: int) -> None:
        self._act(lambda: self.store.cancel(job_id))

    def retry(self, job_id: int) -> None:
        self._act(lambda: self.store.retry(job_id))

    def remove(self, job_id: int) -> None:
        self._act(lambda: self.store.remove(job_id))

    def _act(self, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:  # e.g. cancelling a job that just finished
            text = error.one_line() if hasattr(error, "one_line") else str(error)
            emit(self.errorRaised, text)
        self.reload()

    # ---- the executor -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.executor is not None or self._starting

    def start(self) -> None:
        """Serve the queue in the background until paused or closed."""
        if self.running:
            return
        self._starting = True
        emit(self.runningChanged, True)
        # Importing the offline runner pulls in onnxruntime and video I/O (a second or so): on a
        # worker. Starting the executor itself only creates threads, so that happens back here.
        self._tasks.submit(self._load_runner_factory, on_done=self._start_executor, on_error=self._start_failed)
        self.timer.start()
        self.reload()

    def run_on(self, ray_address: str | None) -> None:
        """Where jobs run from now on: None this machine, else Ray ("" local). Restarts a running queue."""
        if ray_address == self.ray_address:
            return
        self.ray_address = ray_address
        if self.running:
            self.pause()
            self.start()

    def _load_runner_factory(self) -> RunnerFactory | Executor:
        if self.ray_address is not None:
            # Connecting (or starting Ray) takes seconds, and a missing Ray or a dead address is one
            # line in the status bar: both on this worker, never on the GUI thread.
            from app.cluster.ray_executor import RayExecutor

            return RayExecutor(self.store, address=self.ray_address or None, poll_s=0.5)
        return self._runner_factory or load_runner_factory()

    def _start_executor(self, prepared: RunnerFactory | Executor) -> None:
        if not self._starting:
            _close(prepared)  # paused while Ray was connecting
            return  # paused before the runner was even imported
        self._starting = False
        executor = prepared if hasattr(prepared, "start") else LocalExecutor(
            self.store, prepared, workers=self._workers, poll_s=0.5)  # type: ignore[arg-type]
        try:
            executor.start(forever=True)
        except Exception as error:
            self._start_failed(error)
            return
        self.executor = executor

    def _start_failed(self, error: BaseException) -> None:
        self._starting = False
        self.executor = None
        text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
        log.warning("job executor did not start: %s", text)
        emit(self.errorRaised, f"jobs cannot run here: {text}")
        emit(self.runningChanged, False)

    def pause(self) -> None:
        """Stop serving the queue; a running job goes back to PENDING. Joins on a worker."""
        self._starting = False
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.stop()
            self._tasks.submit(lambda: _join_and_close(executor, 60), on_done=lambda _ok: self.reload(),
                               on_error=lambda error: emit(self.errorRaised, str(error)))
        emit(self.runningChanged, False)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Window closing: stop the workers and wait for them, then close the database."""
        self._starting = False
        self.timer.stop()
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.stop()
            try:
                _join_and_close(executor, timeout)
            except Exception:
                log.exception("a job worker crashed")
        self.subscription.close()
        self.store.close()


def _join_and_close(executor: Executor, timeout: float) -> bool:
    try:
        return executor.join(timeout=timeout)
    finally:
        _close(executor)


def _close(prepared: object) -> None:
    """A RayExecutor's actors go (and a Ray it started); a LocalExecutor has nothing to close."""
    close = getattr(prepared, "close", None)
    if callable(close):
        close()
