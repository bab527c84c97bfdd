"""Each `/api/events` subscriber's bounded outbox, so a client that stops reading cannot make the server buffer without bound.

When an outbox is full a newer progress/live message replaces the oldest one queued (it supersedes
it); state changes are kept, up to a hard cap. The hub drops a subscriber whose outbox stays full for
its grace period, or reaches the hard cap (events/hub.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ..websocket_close import POLICY_VIOLATION
from .messages import Message


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
