"""A bounded hand-over between two threads where the newest frame wins.

The producer never waits and the queue never grows: when the consumer has not caught up, the
oldest waiting frame is dropped (and counted by the caller). That is what keeps live latency flat:
a stale frame is worth less than nothing, because processing it delays every frame behind it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: T) -> T | None:
        """Add `item`; returns the item it pushed out (a dropped frame), or None."""
        with self._cond:
            dropped = self._items.popleft() if len(self._items) >= self._capacity else None
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest waiting item (the queue holds at most `capacity`), or None on timeout/close."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def take_newest(self) -> tuple[T | None, int]:
        """Without waiting: the newest item and how many older ones were discarded with it."""
        with self._cond:
            if not self._items:
                return None, 0
            newest = self._items.pop()
            skipped = len(self._items)
            self._items.clear()
            return newest, skipped

    def clear(self) -> int:
        with self._cond:
            count = len(self._items)
            self._items.clear()
            return count

    def close(self) -> None:
        """Wake any waiting consumer; later `get`s return what is left, then None at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
