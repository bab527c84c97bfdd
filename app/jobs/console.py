"""Job events drawn on a terminal: a tqdm bar per running job (frames, fps, ETA) and one line when
a job ends. Used by `swapcast worker`, `swapcast jobs watch` and `swapcast swap`."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

from .events import EventKind, JobEvent, Subscription
from .executor import Executor
from .model import Job, JobState

_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames{postfix}"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class JobProgressView:
    """Feed it JobEvents (from a Subscription or watch()) on one thread."""

    def __init__(self, file: TextIO | None = None, bars: bool | None = None, caller_sums_up: bool = False) -> None:
        """`bars`: draw bars (True), only lines (False), or bars only on a terminal (None).
        `caller_sums_up`: the caller prints each job's warnings and how it ended itself, as
        `swapcast swap` does, so the view shows only progress and retries (nothing is said twice)."""
        self.file = file or sys.stderr
        self._bars_enabled = bars if bars is not None else self.file.isatty()
        self._caller_sums_up = caller_sums_up
        self._bars: dict[int, Any] = {}

    def handle(self, event: JobEvent) -> None:
        if event.kind is EventKind.WARNING:
            if not self._caller_sums_up:
                self._line(f"job {event.job_id}: warning: {event.message}")
            return
        if event.kind is EventKind.REMOVED:
            self._close_bar(event.job_id)
            self._line(f"job {event.job_id} removed")
            return
        if event.state is JobState.PROCESSING:
            self._update_bar(event)
            return
        if event.kind is not EventKind.STATE:
            return
        self._close_bar(event.job_id)
        if event.state.is_final and self._caller_sums_up:
            return
        line = {
            JobState.COMPLETED: f"job {event.job_id} completed: {event.message}",
            JobState.FAILED: f"job {event.job_id} failed: {event.message}",
            JobState.CANCELLED: f"job {event.job_id} cancelled",
            JobState.PENDING: f"job {event.job_id} pending" + (f" (will retry: {event.message})" if event.message else ""),
        }.get(event.state)
        if line:
            self._line(line)

    def close(self) -> None:
        for job_id in list(self._bars):
            self._close_bar(job_id)

    def _update_bar(self, event: JobEvent) -> None:
        if not self._bars_enabled:
            return
        bar = self._bars.get(event.job_id)
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(
                total=event.progress.total or None,
                desc=f"job {event.job_id}",
                unit="frame",
                file=self.file,
                dynamic_ncols=True,
                bar_format=_BAR_FORMAT,
                leave=False,
            )
            self._bars[event.job_id] = bar
        total = event.progress.total or None
        if bar.total != total:
            bar.total = total
        bar.n = event.progress.done
        fps = f"{event.fps:.1f} fps" if event.fps else "? fps"
        bar.set_postfix_str(f"{fps}, ETA {format_eta(event.eta_s)}", refresh=False)
        bar.refresh()

    def _close_bar(self, job_id: int) -> None:
        bar = self._bars.pop(job_id, None)
        if bar is not None:
            bar.close()

    def _line(self, text: str) -> None:
        if self._bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.file)  # above the bars, without breaking them
        else:
            print(text, file=self.file, flush=True)


def run_in_foreground(
    executor: Executor,
    events: Subscription,
    view: JobProgressView | None = None,
    *,
    forever: bool = False,
    job_ids: Sequence[int] | None = None,
) -> tuple[list[Job], bool]:
    """Start `executor` and draw `events` until it ends (`swapcast worker`, `swapcast swap`).

    Ctrl-C or SIGTERM stop it cleanly: running jobs go back to the queue; a second Ctrl-C leaves
    at once (KeyboardInterrupt; the jobs' leases recover them). Returns the jobs it settled and
    whether it was interrupted. Call it on the main thread; bars are drawn there, never from the
    worker threads.
    """
    view = view or JobProgressView()
    stop = _StopRequest()
    try:
        # The handlers go in BEFORE the workers start. Python raises KeyboardInterrupt at whatever
        # instruction the main thread is on: while start() was still returning (a worker had
        # already claimed a job) it escaped before any handler was in place, leaving the job
        # PROCESSING with no worker; deep inside a lock's wait it could break the lock itself.
        # The handlers only note the request; the pump loop below acts on it.
        with stop.installed():
            executor.start(forever=forever, job_ids=job_ids)
            _pump(executor, events, view, stop)
    finally:
        view.close()
    return executor.finished, stop.requested


class _StopRequest:
    """SIGINT/SIGTERM → a flag the pump loop reads; the second Ctrl-C raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False
        self.acted = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread; a caller elsewhere stops the executor itself
            return
        names = ("SIGINT", "SIGTERM")  # `kill`, systemd and docker stop send SIGTERM
        previous = {name: signal.signal(getattr(signal, name), self._handler) for name in names if hasattr(signal, name)}
        try:
            yield
        finally:
            for name, handler in previous.items():
                signal.signal(getattr(signal, name), handler)


def _pump(executor: Executor, events: Subscription, view: JobProgressView, stop: _StopRequest) -> None:
    while True:
        if stop.requested and not stop.acted:
            stop.acted = True
            view._line("stopping: running jobs go back to the queue")
            executor.stop()
        done = executor.join(timeout=0.1)
        for event in events.drain():
            view.handle(event)
        if done:
            return
