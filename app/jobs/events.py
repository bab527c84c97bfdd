"""Job progress as an event stream.

In one process, the JobStore publishes a JobEvent on an EventBus after every change it commits
(added, claimed, progress, warning, finished, removed). The CLI progress bars, the GUI (through Qt
signals) and the future HTTP API's WebSocket subscribe to it. Publishing never blocks: each
subscriber has its own bounded queue, and when a slow subscriber falls behind its oldest *progress*
events are dropped (a newer one supersedes them) while state changes are kept.

Workers in other processes cannot reach this bus; `watch()` follows a job through the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from .errors import JobNotFound
from .model import Job, JobState, Progress

if TYPE_CHECKING:
    from .store import JobStore

_log = logging.getLogger(__name__)


class EventKind(str, Enum):
    ADDED = "added"
    STATE = "state"  # the job's state changed (claimed, finished, re-queued, cancel requested)
    PROGRESS = "progress"
    WARNING = "warning"
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class JobEvent:
    job_id: int
    kind: EventKind
    state: JobState
    progress: Progress = field(default_factory=Progress)
    fps: float | None = None
    eta_s: float | None = None
    message: str | None = None  # the error, the warning, or the output path, depending on kind/state
    time: float = field(default_factory=time.time)
    segments: Progress | None = None  # segments of a split video done/total; None: not split

    @classmethod
    def from_job(cls, job: Job, kind: EventKind, message: str | None = None) -> JobEvent:
        if message is None and kind in (EventKind.STATE, EventKind.ADDED):
            # The line a viewer prints for this state: why it failed / was re-queued, or where it went.
            if job.state is JobState.COMPLETED:
                message = job.output
            elif job.state in (JobState.FAILED, JobState.PENDING):
                message = job.error
        return cls(
            job_id=job.id,
            kind=kind,
            state=job.state,
            progress=job.progress,
            fps=job.fps,
            eta_s=job.eta_s,
            message=message,
            segments=job.segments,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "kind": self.kind.value,
            "state": self.state.value,
            "frames_done": self.progress.done,
            "frames_total": self.progress.total,
            "progress": round(self.progress.fraction, 4),
            "fps": self.fps,
            "eta_s": self.eta_s,
            "message": self.message,
            "time": self.time,
            "segments_done": self.segments.done if self.segments else None,
            "segments_total": self.segments.total if self.segments else None,
        }


class Subscription:
    """One subscriber's bounded queue. Read it from any thread with get(), drain() or iteration."""

    def __init__(
        self,
        bus: EventBus,
        job_ids: Iterable[int] | None,
        maxsize: int,
        on_ready: Callable[[], None] | None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._bus = bus
        self._job_ids = frozenset(job_ids) if job_ids is not None else None
        self._maxsize = maxsize
        # State events are few but must not be lost (a viewer would wait forever for COMPLETED), so
        # only they may go past maxsize — up to a hard cap that protects against a dead subscriber.
        self._hard_cap = maxsize * 4
        self._on_ready = on_ready
        self._queue: deque[JobEvent] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def wants(self, event: JobEvent) -> bool:
        return self._job_ids is None or event.job_id in self._job_ids

    def put(self, event: JobEvent) -> None:
        """Called by the publisher: never blocks, never raises."""
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self._maxsize and not self._make_room(event):
                self.dropped += 1
                return
            self._queue.append(event)
            self._cond.notify_all()
        if self._on_ready is not None:
            try:
                self._on_ready()
            except Exception:  # a subscriber's bug must not stop the worker
                _log.exception("job event subscriber's on_ready callback failed")

    def _make_room(self, incoming: JobEvent) -> bool:
        """Free a slot by dropping the oldest progress event; False: skip `incoming` instead."""
        for index, queued in enumerate(self._queue):
            if queued.kind is EventKind.PROGRESS:
                del self._queue[index]
                self.dropped += 1
                return True
        if incoming.kind is EventKind.PROGRESS:
            return False  # only state events queued: they matter more than one progress tick
        if len(self._queue) >= self._hard_cap:
            self._queue.popleft()
            self.dropped += 1
        return True

    def get(self, timeout: float | None = None) -> JobEvent | None:
        """The next event; None on timeout or once closed and empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._queue.popleft()

    def drain(self) -> list[JobEvent]:
        """Every queued event, without waiting (for a GUI timer or a CLI loop)."""
        with self._cond:
            events = list(self._queue)
            self._queue.clear()
            return events

    def __iter__(self) -> Iterator[JobEvent]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._bus._unsubscribe(self)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """In-process publish/subscribe of JobEvents; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def subscribe(
        self,
        job_ids: Iterable[int] | None = None,
        maxsize: int = 256,
        on_ready: Callable[[], None] | None = None,
    ) -> Subscription:
        """Events of `job_ids` (all jobs when None) from now on.

        `on_ready` is called on the publisher's thread after each queued event; it must return at
        once (e.g. `loop.call_soon_threadsafe(...)`, or emitting a queued Qt signal).
        """
        subscription = Subscription(self, job_ids, maxsize, on_ready)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if subscription.wants(event):
                subscription.put(event)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)


def watch(
    store: JobStore,
    job_id: int,
    interval: float = 0.25,
    timeout: float | None = None,
) -> Iterator[JobEvent]:
    """Follow one job through the database (its worker may be another process or machine).

    Yields the job's current state first, then an event for each change seen at each poll; ends
    after the job reaches a final state or is removed. Raises JobNotFound for an unknown id and
    TimeoutError when `timeout` seconds pass first. Polling may miss intermediate progress, never
    the final state.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    job = store.get(job_id)
    yield JobEvent.from_job(job, EventKind.STATE)
    seen_warnings = len(job.warnings)
    last = job
    while not last.state.is_final:
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"job {job_id} did not finish within {timeout:g} s")
        time.sleep(interval)
        try:
            job = store.get(job_id)
        except JobNotFound:
            yield JobEvent(job_id=job_id, kind=EventKind.REMOVED, state=last.state, progress=last.progress)
            return
        for warning in job.warnings[seen_warnings:]:
            yield JobEvent.from_job(job, EventKind.WARNING, message=warning)
        seen_warnings = len(job.warnings)
        if job.state is not last.state or job.attempts != last.attempts:
            yield JobEvent.from_job(job, EventKind.STATE)
        elif (job.progress, job.fps, job.eta_s, job.segments) != (last.progress, last.fps, last.eta_s, last.segments):
            yield JobEvent.from_job(job, EventKind.PROGRESS)
        last = job
