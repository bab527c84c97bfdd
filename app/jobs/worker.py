"""A worker: claims jobs from the store, runs each with a JobRunner, and settles its final state.

Several workers (threads of one process, other processes, later Ray actors' drivers) can serve one
queue: claiming is atomic in the store. While a job runs, a side thread renews its lease so that
only a dead worker's job is recovered by others.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from engines.errors import SwapCastError, TransientError

from .errors import JobCancelled, JobNotFound, JobReleased, LeaseLost
from .leases import Lease
from .model import Job
from .runner import JobRunner, RunResult
from .store import JobStore

_log = logging.getLogger(__name__)

RunnerFactory = Callable[[], JobRunner]
"""Makes one runner per worker. The queue never picks one itself: the front ends pass the real one
(app.offline.load_runner_factory), tests pass fakes, so app.jobs needs nothing above it."""


class RunnerUnavailable(SwapCastError):
    """The real swap runner cannot be loaded in this build."""


def default_worker_id() -> str:
    """host:pid:random — readable in `jobs show`, unique across threads, processes and machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RateMeter:
    """Frames per second over a sliding window, so the ETA follows speed changes (a slow first
    frame while models warm up, a hard scene) without jumping at every frame."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()  # the runner restarted its count
        self._samples.append((now, done))
        # Keep one sample older than the window, so the window is always fully covered.
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def fps(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return (d1 - d0) / (t1 - t0)


class _Control:
    """Why the running job must stop, as learnt from heartbeats and progress writes."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.lost = threading.Event()

    def learn(self, lease: Lease) -> None:
        if lease is Lease.CANCEL_REQUESTED:
            self.cancelled.set()
        elif lease is Lease.LOST:
            self.lost.set()


class JobReporter:
    """The ProgressReporter a runner gets: turns frame counts into fps/ETA, writes them to the store
    at most every `interval_s` (and always the last frame), and raises when the job must stop."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        worker_id: str,
        stop: threading.Event,
        control: _Control,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._job = job
        self._worker_id = worker_id
        self._stop = stop
        self._control = control
        self._interval_s = interval_s
        self._clock = clock
        self._meter = RateMeter()
        self._last_write: float | None = None
        self._last_written = (-1, -1)
        self._last_segments = (-1, -1)
        self.warnings: list[str] = []

    @property
    def job_folder(self) -> Path:
        """The job's own folder (fetched inputs, renders to upload): see JobStore.job_folder."""
        return self._store.job_folder(self._job.id)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or self._control.cancelled.is_set() or self._control.lost.is_set()

    def check(self) -> None:
        """Raise the signal that stops the runner, if any. LeaseLost first: then nothing is ours."""
        job_id = self._job.id
        if self._control.lost.is_set():
            raise LeaseLost(job_id)
        if self._control.cancelled.is_set():
            raise JobCancelled(job_id)
        if self._stop.is_set():
            raise JobReleased(job_id)

    def progress(self, done: int, total: int) -> None:
        self.check()
        now = self._clock()
        self._meter.add(now, done)
        due = self._last_write is None or now - self._last_write >= self._interval_s
        # The last frame is always written at once, so a finished job never shows 99 %. A due
        # write goes out even when the count did not move: it is also how a cancel is noticed.
        final = total > 0 and done >= total and (done, total) != self._last_written
        if not (due or final):
            return
        fps = self._meter.fps()
        eta = (total - done) / fps if fps and total > 0 else None
        self._last_write = now
        try:
            lease = self._store.update_progress(
                self._job.id, done, total, fps, eta, worker_id=self._worker_id
            )
        except sqlite3.Error:
            # Progress is best effort: a database locked past busy_timeout must not fail an
            # hour-long render (the heartbeat keeps the lease; the next due write catches up).
            _log.warning("job %s: progress not recorded", self._job.id, exc_info=True)
            return
        self._last_written = (done, total)
        self._control.learn(lease)
        self.check()

    def segments(self, done: int, total: int) -> None:
        """Segments of a split video swapped so far (the Ray runner): written when the count moves."""
        if (done, total) == self._last_segments:
            return
        try:
            self._store.update_segments(self._job.id, done, total, worker_id=self._worker_id)
        except sqlite3.Error:
            _log.warning("job %s: segment count not recorded", self._job.id, exc_info=True)
            return
        self._last_segments = (done, total)

    def warn(self, message: str) -> None:
        self.warnings.append(message)  # also passed to complete(), in case this write fails
        try:
            self._store.add_warning(self._job.id, message)
        except sqlite3.Error:
            _log.warning("job %s: warning not recorded: %s", self._job.id, message, exc_info=True)


class _Heartbeat:
    """Renews the lease of the running job on a side thread, so a runner stuck in one long frame
    (model warm-up, a huge image) does not lose its job to recover_stale()."""

    def __init__(self, store: JobStore, job_id: int, worker_id: str, interval_s: float, control: _Control) -> None:
        self._store = store
        self._job_id = job_id
        self._worker_id = worker_id
        self._interval_s = interval_s
        self._control = control
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"swapcast-heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._interval_s):
            try:
                self._control.learn(self._store.heartbeat(self._job_id, self._worker_id))
            except Exception:  # a locked or briefly unavailable DB: try again next beat
                _log.warning("heartbeat of job %s failed", self._job_id, exc_info=True)


class Worker:
    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        worker_id: str | None = None,
        poll_s: float = 0.5,
        lease_s: float = 30.0,
        progress_interval_s: float = 0.25,
    ) -> None:
        self.store = store
        self.runner = runner
        self.worker_id = worker_id or default_worker_id()
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.progress_interval_s = progress_interval_s
        # At least three beats per lease, so one late or failed beat never loses the job; and at
        # least one every 2 s, since the beat is also how a runner stuck in one long step (model
        # loading, a huge image) learns it was cancelled.
        self.heartbeat_s = min(lease_s / 3, 2.0)
        self.finished: list[Job] = []  # every job this worker settled, in order, as it left it
        self._last_recovery = float("-inf")

    # --- loops ------------------------------------------------------------------------------------

    def run_until_empty(self, stop_event: threading.Event | None = None) -> list[Job]:
        """Run jobs until none is PENDING (waiting out back-offs). Jobs other workers are running
        are theirs; returns the jobs this call settled."""
        stop = stop_event or threading.Event()
        start = len(self.finished)
        self._recover(force=True)
        while not stop.is_set():
            if self.run_one(stop_event=stop) is not None:
                continue
            next_at = self.store.next_pending_at()
            if next_at is None:
                break
            # Sleep until the back-off ends (a floor keeps a lost race from spinning the CPU).
            stop.wait(min(self.poll_s, max(0.01, next_at - self.store.clock())))
            self._recover()
        return self.finished[start:]

    def run_forever(self, stop_event: threading.Event) -> None:
        """Run jobs as they come until `stop_event` is set (a running job is then released)."""
        self._recover(force=True)
        while not stop_event.is_set():
            if self.run_one(stop_event=stop_event) is None:
                stop_event.wait(self.poll_s)
                self._recover()

    def run_until(
        self,
        job_ids: Iterable[int],
        stop_event: threading.Event | None = None,
        timeout: float | None = None,
    ) -> list[Job]:
        """Run the given jobs (only those) until each is final — or removed — while other workers
        may take some of them. Returns their latest states, in the given order (removed ones left
        out). Raises TimeoutError after `timeout` seconds."""
        ids = list(dict.fromkeys(job_ids))
        stop = stop_event or threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout
        self._recover(force=True)
        while True:
            if not stop.is_set() and self.run_one(job_ids=ids, stop_event=stop) is not None:
                continue
            jobs = self._existing(ids)
            if stop.is_set() or all(job.state.is_final for job in jobs):
                return jobs
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"jobs {ids} did not finish within {timeout:g} s")
            stop.wait(self.poll_s)
            self._recover()

    def run_job(self, job_id: int, stop_event: threading.Event | None = None, timeout: float | None = None) -> Job:
        jobs = self.run_until([job_id], stop_event=stop_event, timeout=timeout)
        if not jobs:
            raise JobNotFound(job_id)
        return jobs[0]

    def run_one(
        self, job_ids: Sequence[int] | None = None, stop_event: threading.Event | None = None
    ) -> Job | None:
        """Claim one job (of `job_ids`) and run it; None when nothing is claimable now."""
        job = self.store.claim(self.worker_id, self.lease_s, job_ids=job_ids)
        if job is None:
            return None
        return self.process(job, stop_event or threading.Event())

    # --- one job ----------------------------------------------------------------------------------

    def process(self, job: Job, stop: threading.Event) -> Job:
        """Run a job this worker has claimed and record how it ended. Returns its state after."""
        control = _Control()
        reporter = JobReporter(self.store, job, self.worker_id, stop, control, self.progress_interval_s)
        wid = self.worker_id
        settled: Job | None
        _log.info("job %s: attempt %s of %s on %s", job.id, job.attempts, job.max_attempts, wid)
        with _Heartbeat(self.store, job.id, wid, self.heartbeat_s, control):
            try:
                result = self.runner.run(job, reporter)
            except JobCancelled:
                settled = self.store.acknowledge_cancel(job.id, worker_id=wid)
            except JobReleased:
                settled = self.store.release(job.id, worker_id=wid)
            except LeaseLost:
                _log.warning("job %s: lost its lease to another worker; dropping this attempt", job.id)
                settled = None
            except TransientError as error:
                settled = self.store.fail(job.id, error.one_line(), transient=True, worker_id=wid)
            except SwapCastError as error:
                settled = self.store.fail(job.id, error.one_line(), transient=False, worker_id=wid)
            except Exception as error:
                # The user gets one line; the traceback is for the log (and bug reports).
                _log.exception("job %s: internal error in the runner", job.id)
                message = f"internal error: {type(error).__name__}: {error}"
                settled = self.store.fail(job.id, message, transient=False, worker_id=wid)
            except BaseException:
                # KeyboardInterrupt / SystemExit on this thread: hand the job back, then stop.
                self.store.release(job.id, worker_id=wid)
                raise
            else:
                settled = self._complete(job, result, reporter, wid)
        final = settled if settled is not None else self._latest(job)
        self.finished.append(final)
        return final

    def _complete(self, job: Job, result: RunResult, reporter: JobReporter, wid: str) -> Job | None:
        if not isinstance(result, RunResult):
            message = f"internal error: the runner returned {type(result).__name__}, not RunResult"
            return self.store.fail(job.id, message, transient=False, worker_id=wid)
        warnings = [*reporter.warnings, *result.warnings]  # store.complete() drops duplicates
        settled = self.store.complete(job.id, result.output, warnings, worker_id=wid, objects=result.objects)
        if settled is None:
            _log.warning("job %s finished here but was no longer this worker's; result not recorded", job.id)
        return settled

    # --- helpers ----------------------------------------------------------------------------------

    def _recover(self, force: bool = False) -> None:
        """recover_stale() on start, then every half lease — often enough that a dead worker's job
        waits at most about 1.5 leases, rarely enough to cost nothing — and at once when a job's
        process is gone from this host (a read per poll tells)."""
        now = time.monotonic()
        due = force or now - self._last_recovery >= max(self.lease_s / 2, self.poll_s)
        if not due and not self.store.has_orphans():
            return
        self._last_recovery = now
        for job in self.store.recover_stale():
            _log.warning("job %s: its worker stopped responding; now %s", job.id, job.state.value)

    def _existing(self, ids: Sequence[int]) -> list[Job]:
        jobs = []
        for job_id in ids:
            try:
                jobs.append(self.store.get(job_id))
            except JobNotFound:
                pass
        return jobs

    def _latest(self, job: Job) -> Job:
        try:
            return self.store.get(job.id)
        except JobNotFound:
            return job
