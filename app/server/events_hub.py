"""The hub behind `WebSocket /api/events`: gathers what subscribers are told and fans it out.

Sources, each turned into one JSON message `{"type": ..., "data": {...}, "time": ...}`:
- `job`: progress and state changes, from the in-process EventBus (the server's own workers, the
  API's own writes) and from a ~1 Hz poll of the store for rows whose `updated_at` moved (workers in
  another process, e.g. a separate `swapcast worker`, cannot reach this process's bus). The two are
  de-duplicated: a job's change is sent once, whichever source saw it first.
- `live`: the live session's stats once a second (nothing while no session has run).
- `health`: the engines' health, sent only when it changes.
- `heartbeat`: every `heartbeat_s` (15 s), so clients and proxies can tell a quiet stream from a dead one.

A client that stops reading must not make the server buffer without bound: each subscriber has a
bounded outbox. When it is full a newer progress/live message replaces the oldest one queued (it
supersedes it); state changes are kept, up to a hard cap. An outbox that stays full for `grace_s`,
or reaches the hard cap, gets its subscriber dropped: its queue is freed at once and the connection
is closed with 1008 (policy violation) and a reason that says what to do.

Everything here runs on the server's event loop, except the EventBus callback (a worker thread:
it only schedules a wake-up) and the blocking reads (store, live, engines), which run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from app.jobs.events import EventKind, JobEvent, Subscription
from app.jobs.model import Job, JobState, Progress

from .public_paths import public_name, public_text, public_tree

if TYPE_CHECKING:
    from .context import ServerContext

_log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008  # WebSocket close code: bad token, or a client that stopped reading
GOING_AWAY = 1001  # the server is stopping


class MessageType(str, Enum):
    JOB = "job"
    LIVE = "live"
    HEALTH = "health"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class Message:
    type: MessageType
    text: str  # the JSON sent, encoded once for every subscriber
    droppable: bool  # a newer message of the same sort supersedes it (progress, live stats, heartbeat)
    public: str | None = None  # the text for subscribers that do not see server paths, when it differs

    def text_for(self, subscriber: Subscriber) -> str:
        return self.text if subscriber.sees_paths or self.public is None else self.public


def encode(kind: MessageType, data: Any, at: float | None = None) -> str:
    return json.dumps({"type": kind.value, "data": data, "time": time.time() if at is None else at},
                      separators=(",", ":"))


def job_data(event: JobEvent) -> dict[str, Any]:
    """What a `job` message carries."""
    return {
        "id": event.job_id,
        "kind": event.kind.value,
        "state": event.state.value,
        "done": event.progress.done,
        "total": event.progress.total,
        "progress": round(1.0 if event.state is JobState.COMPLETED else event.progress.fraction, 4),
        "fps": event.fps,
        "eta_s": event.eta_s,
        "message": event.message,
        # A video split across Ray actors: segments swapped so far (null when the job is not split).
        "segments_done": event.segments.done if event.segments else None,
        "segments_total": event.segments.total if event.segments else None,
    }


def job_message(event: JobEvent) -> Message:
    """`message` (an output path, an error, a warning) reduced to file names for all but admins."""
    data = job_data(event)
    public = None
    if event.message:
        shown = (public_name(event.message) if event.state is JobState.COMPLETED and event.kind is not EventKind.WARNING
                 else public_text(event.message))
        if shown != event.message:
            public = encode(MessageType.JOB, {**data, "message": shown}, event.time)
    return Message(MessageType.JOB, encode(MessageType.JOB, data, event.time),
                   droppable=event.kind is EventKind.PROGRESS, public=public)


class Outbox:
    """One subscriber's bounded queue of messages waiting to be sent (event-loop thread only)."""

    def __init__(self, maxsize: int, hard_cap: int) -> None:
        if maxsize < 2 or hard_cap < maxsize:
            raise ValueError("an outbox needs maxsize >= 2 and hard_cap >= maxsize")
        self.maxsize = maxsize
        self.hard_cap = hard_cap
        self._queue: deque[Message] = deque()
        self._ready = asyncio.Event()
        self.full_since: float | None = None  # monotonic time it filled up; None once half drained
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, message: Message) -> bool:
        """Queue `message`; False when the outbox is over its hard cap (its subscriber must go)."""
        if len(self._queue) >= self.maxsize:
            if self.full_since is None:
                self.full_since = time.monotonic()
            if not self._drop_oldest_droppable():
                if message.droppable:  # only state changes queued: they matter more than this one
                    self.dropped += 1
                    return True
                if len(self._queue) >= self.hard_cap:
                    return False
        self._queue.append(message)
        self._ready.set()
        return True

    def _drop_oldest_droppable(self) -> bool:
        for index, queued in enumerate(self._queue):
            if queued.droppable:
                del self._queue[index]
                self.dropped += 1
                return True
        return False

    async def get(self) -> Message:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        message = self._queue.popleft()
        # Hysteresis: a client that reads one message now and then is still "full" until it catches up.
        if self.full_since is not None and len(self._queue) <= self.maxsize // 2:
            self.full_since = None
        return message

    def clear(self) -> None:
        self._queue.clear()
        self.full_since = None


class Subscriber:
    """One WebSocket connection's place in the hub."""

    def __init__(self, outbox: Outbox, sees_paths: bool = False) -> None:
        self.outbox = outbox
        self.sees_paths = sees_paths  # an admin: messages keep the server's paths (job_views.py)
        self.dropped_by_hub = asyncio.Event()  # set when the hub drops it; the route then closes the socket
        self.close_code = POLICY_VIOLATION
        self.close_reason = ""


@dataclass
class _Seen:
    """The last change of a job sent to subscribers (for de-duplication)."""

    signature: tuple[Any, ...]
    state: JobState
    at: float  # Unix time it was recorded (for pruning)


def _signature(state: JobState, progress: Progress, fps: float | None, eta_s: float | None) -> tuple[Any, ...]:
    return (state, progress.done, progress.total, fps, eta_s)


class EventHub:
    """Fan-out of job, live, health and heartbeat messages to the connected subscribers.

    The settings are attributes so tests (and a future `serve` option) can change them before the
    first subscriber connects; `start()` runs on the first connection, `stop()` at server shutdown.
    """

    def __init__(
        self,
        *,
        heartbeat_s: float = 15.0,
        poll_s: float = 1.0,
        queue_size: int = 256,
        hard_cap_factor: int = 4,
        grace_s: float = 10.0,
        store_margin_s: float = 5.0,
        close_timeout_s: float = 2.0,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s  # store changes, live stats, engine health
        self.queue_size = queue_size  # per subscriber
        self.hard_cap_factor = hard_cap_factor  # state changes may go past queue_size up to this many times it
        self.grace_s = grace_s  # how long an outbox may stay full before its subscriber is dropped
        # Rows whose updated_at is this much older than the newest seen are read again at each poll:
        # a writer stamps updated_at before it waits for the write lock, so commits land slightly out
        # of time order (and another machine's clock may be a little behind).
        self.store_margin_s = store_margin_s
        self.close_timeout_s = close_timeout_s  # a socket that cannot take the close frame is abandoned
        self._subscribers: list[Subscriber] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._start_lock: asyncio.Lock | None = None
        self._subscription: Subscription | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._wake_pending = False
        self._context: ServerContext | None = None
        self._seen: dict[int, _Seen] = {}
        self._bus_seen_at: dict[int, float] = {}  # job id → monotonic time the bus last told about it
        self._watermark = 0.0  # newest updated_at read from the store
        self._health: list[dict[str, Any]] | None = None
        self.dropped_subscribers = 0

    # ---- what tests and the status page read -----------------------------------------------------
    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def buffered(self) -> int:
        """Messages waiting in every subscriber's outbox."""
        return sum(len(s.outbox) for s in self._subscribers)

    @property
    def max_buffered_per_subscriber(self) -> int:
        return self.queue_size * self.hard_cap_factor

    @property
    def dropped_messages(self) -> int:
        return sum(s.outbox.dropped for s in self._subscribers)

    # ---- life --------------------------------------------------------------------------------------
    async def start(self, context: ServerContext) -> None:
        """Begin gathering (idempotent). Changes made before it returns are not sent to anyone."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._tasks:
                return
            from .status_view import engines_snapshot  # status_view imports context, which imports this

            self._context = context
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._subscription = context.bus.subscribe(maxsize=max(64, self.queue_size), on_ready=self._on_bus_ready)
            started = time.time()
            # What the store holds now is the baseline: known, not news.
            for job in await asyncio.to_thread(context.store.changed_since, started - self.store_margin_s):
                self._remember(job.id, _signature(job.state, job.progress, job.fps, job.eta_s), job.state)
                self._watermark = max(self._watermark, job.updated_at)
            self._watermark = max(self._watermark, started)
            self._health = await asyncio.to_thread(engines_snapshot, context)
            self._tasks = [
                asyncio.create_task(self._pump_bus(), name="events-bus"),
                asyncio.create_task(self._poll_loop(), name="events-poll"),
                asyncio.create_task(self._heartbeat_loop(), name="events-heartbeat"),
            ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        for subscriber in list(self._subscribers):
            self.drop(subscriber, GOING_AWAY, "the server is stopping — reconnect when it is back")

    def subscribe(self, sees_paths: bool = False) -> Subscriber:
        subscriber = Subscriber(Outbox(self.queue_size, self.queue_size * self.hard_cap_factor), sees_paths)
        self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        subscriber.outbox.clear()

    def drop(self, subscriber: Subscriber, code: int, reason: str) -> None:
        """Stop serving `subscriber` now: free its queue; its connection's handler closes the socket."""
        self.unsubscribe(subscriber)
        subscriber.close_code, subscriber.close_reason = code, reason
        subscriber.dropped_by_hub.set()

    # ---- fan-out -----------------------------------------------------------------------------------
    def broadcast(self, message: Message) -> None:
        now = time.monotonic()
        for subscriber in list(self._subscribers):
            outbox = subscriber.outbox
            if not outbox.put(message):
                self._drop_slow(subscriber, f"{len(outbox)} events waited")
            elif outbox.full_since is not None and now - outbox.full_since > self.grace_s:
                self._drop_slow(subscriber, f"its queue stayed full for over {self.grace_s:g} s")

    def _drop_slow(self, subscriber: Subscriber, why: str) -> None:
        self.dropped_subscribers += 1
        _log.info("dropped an event subscriber that stopped reading (%s)", why)
        self.drop(subscriber, POLICY_VIOLATION, "too slow: you stopped reading events — read continuously, then reconnect")

    def _check_slow(self) -> None:
        now = time.monotonic()
        for subscriber in list(self._subscribers):
            since = subscriber.outbox.full_since
            if since is not None and now - since > self.grace_s:
                self._drop_slow(subscriber, f"its queue stayed full for over {self.grace_s:g} s")

    # ---- jobs: the in-process bus ------------------------------------------------------------------
    def _on_bus_ready(self) -> None:
        """Called on the publisher's thread for each event: schedule one wake-up, return at once."""
        if self._wake_pending or self._loop is None or self._wake is None:
            return
        self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop closed while a worker was publishing
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _pump_bus(self) -> None:
        assert self._wake is not None and self._subscription is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._wake_pending = False  # before draining: an event published after this wakes us again
            self._drain_bus()

    def _drain_bus(self) -> None:
        if self._subscription is not None:
            for event in self._subscription.drain():
                self._on_bus_event(event)

    def _on_bus_event(self, event: JobEvent) -> None:
        self._bus_seen_at[event.job_id] = time.monotonic()
        if event.kind is EventKind.WARNING:
            self.broadcast(job_message(event))
            return
        if event.kind is EventKind.REMOVED:
            self._seen.pop(event.job_id, None)
            self.broadcast(job_message(event))
            return
        signature = _signature(event.state, event.progress, event.fps, event.eta_s)
        seen = self._seen.get(event.job_id)
        if seen is not None and seen.signature == signature:
            return  # the store poll already sent this change
        self._remember(event.job_id, signature, event.state)
        self.broadcast(job_message(event))

    def _remember(self, job_id: int, signature: tuple[Any, ...], state: JobState) -> None:
        self._seen[job_id] = _Seen(signature, state, time.time())

    # ---- jobs: the store (other processes' workers); live stats; engine health -----------------------
    async def _poll_loop(self) -> None:
        from .status_view import engines_snapshot

        assert self._context is not None
        context = self._context
        while True:
            await asyncio.sleep(self.poll_s)
            self._check_slow()
            try:
                await self._poll_store(context)
                live = await asyncio.to_thread(context.live.snapshot)
                if live is not None:
                    at = time.time()
                    text, public = encode(MessageType.LIVE, live, at), encode(MessageType.LIVE, public_tree(live), at)
                    self.broadcast(Message(MessageType.LIVE, text, droppable=True, public=public if public != text else None))
                health = await asyncio.to_thread(engines_snapshot, context)
                if health != self._health:
                    self._health = health
                    self.broadcast(Message(MessageType.HEALTH, encode(MessageType.HEALTH, {"engines": health}),
                                           droppable=False))
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or broken database must not end the stream; the next poll retries
                _log.exception("the event stream's poll failed")

    async def _poll_store(self, context: ServerContext) -> None:
        started = time.monotonic()
        jobs = await asyncio.to_thread(context.store.changed_since, self._watermark - self.store_margin_s)
        # Events this process published before the read are taken first, so a row is never sent
        # ahead of an older change still waiting on the bus (that would arrive out of order).
        self._drain_bus()
        for job in jobs:
            self._watermark = max(self._watermark, job.updated_at)
            if self._bus_seen_at.get(job.id, -math.inf) >= started:
                # The bus told us about this job while we were reading: the row may be older than
                # what was sent. The next poll reads it again (it is inside the margin).
                continue
            self._on_store_row(job)
        self._prune()

    def _on_store_row(self, job: Job) -> None:
        signature = _signature(job.state, job.progress, job.fps, job.eta_s)
        seen = self._seen.get(job.id)
        if seen is not None and seen.signature == signature:
            return
        if seen is None and job.state is JobState.PENDING and job.attempts == 0:
            kind = EventKind.ADDED
        elif seen is None or seen.state is not job.state:
            kind = EventKind.STATE
        else:
            kind = EventKind.PROGRESS
        self._remember(job.id, signature, job.state)
        self.broadcast(job_message(JobEvent.from_job(job, kind)))

    def _prune(self) -> None:
        """Forget jobs not changed for a while (they are outside the poll's window), keeping memory
        proportional to recent activity, not to the queue's history."""
        horizon = self._watermark - 2 * self.store_margin_s - 60.0
        for job_id in [i for i, seen in self._seen.items() if seen.at < horizon]:
            del self._seen[job_id]
            self._bus_seen_at.pop(job_id, None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.broadcast(Message(MessageType.HEARTBEAT,
                                   encode(MessageType.HEARTBEAT, {"interval_s": self.heartbeat_s}), droppable=True))


def close_reason(text: str, limit: int = 123) -> str:
    """A WebSocket close reason is at most 123 bytes of UTF-8."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."

