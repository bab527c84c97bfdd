"""The hub behind `WebSocket /api/events`: gathers what subscribers are told and fans it out.

Sources, each turned into one message (messages.py):
- `job`: progress and state changes, from the in-process EventBus and from a ~1 Hz poll of the
  store, de-duplicated (job_changes.py).
- `live`: the live session's stats once a second (nothing while no session has run).
- `health`: the engines' health, sent only when it changes.
- `heartbeat`: every `heartbeat_s` (15 s), so clients and proxies can tell a quiet stream from a dead one.

Each subscriber has a bounded outbox (outbox.py). One that stays full for `grace_s`, or reaches the
hard cap, gets its subscriber dropped: its queue is freed at once and the connection is closed with
1008 (policy violation) and a reason that says what to do.

Everything here runs on the server's event loop, except the EventBus callback (a worker thread:
it only schedules a wake-up) and the blocking reads (store, live, engines), which run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from app.jobs.events import Subscription

from ..websocket_close import GOING_AWAY, POLICY_VIOLATION
from .job_changes import JobChanges
from .messages import Message, health_message, heartbeat_message, job_message, live_message
from .outbox import Outbox, Subscriber

if TYPE_CHECKING:
    from ..context import ServerContext

_log = logging.getLogger(__name__)


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
        self._jobs = JobChanges(store_margin_s)
        self.close_timeout_s = close_timeout_s  # a socket that cannot take the close frame is abandoned
        self._subscribers: list[Subscriber] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._start_lock: asyncio.Lock | None = None
        self._subscription: Subscription | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._wake_pending = False
        self._context: ServerContext | None = None
        self._health: list[dict[str, Any]] | None = None
        self.dropped_subscribers = 0

    @property
    def store_margin_s(self) -> float:
        """How far before the newest `updated_at` seen the store is read again (job_changes.py)."""
        return self._jobs.store_margin_s

    @store_margin_s.setter
    def store_margin_s(self, value: float) -> None:
        self._jobs.store_margin_s = value

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
            from ..status_view import engines_snapshot  # status_view imports context, which imports this

            self._context = context
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._subscription = context.bus.subscribe(maxsize=max(64, self.queue_size), on_ready=self._on_bus_ready)
            started = time.time()
            self._jobs.baseline(await asyncio.to_thread(context.store.changed_since, started - self.store_margin_s),
                                started)
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
                if self._jobs.from_bus(event):
                    self.broadcast(job_message(event))

    # ---- jobs: the store (other processes' workers); live stats; engine health -----------------------
    async def _poll_loop(self) -> None:
        from ..status_view import engines_snapshot

        assert self._context is not None
        context = self._context
        while True:
            await asyncio.sleep(self.poll_s)
            self._check_slow()
            try:
                await self._poll_store(context)
                live = await asyncio.to_thread(context.live.snapshot)
                if live is not None:
                    self.broadcast(live_message(live))
                health = await asyncio.to_thread(engines_snapshot, context)
                if health != self._health:
                    self._health = health
                    self.broadcast(health_message(health))
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or broken database must not end the stream; the next poll retries
                _log.exception("the event stream's poll failed")

    async def _poll_store(self, context: ServerContext) -> None:
        started = time.monotonic()
        jobs = await asyncio.to_thread(context.store.changed_since, self._jobs.read_from())
        self._drain_bus()  # the bus's events published before the read go first (job_changes.py)
        for event in self._jobs.from_store(jobs, started):
            self.broadcast(job_message(event))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.broadcast(heartbeat_message(self.heartbeat_s))
