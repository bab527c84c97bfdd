"""One progress for a job whose frames are swapped on several actors at once.

Each task (a whole target, or one segment) is counted by its key: a count from an actor replaces the
previous one for that key, so a segment that runs again after its actor died is never counted twice
(its count restarts, and the bar says so honestly).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    done: int  # frames
    total: int
    segments_done: int  # tasks finished (a whole image/video counts as one)
    segments_total: int


class TaskProgress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expected: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._finished: set[str] = set()

    def expect(self, key: str, frames: int) -> None:
        with self._lock:
            self._expected[key] = max(1, frames)
            self._done.setdefault(key, 0)

    def update(self, key: str, done: int, total: int) -> None:
        """An actor's count for a running task (its own total may differ from our probe's: scaled)."""
        with self._lock:
            if key in self._finished or key not in self._expected:
                return
            expected = self._expected[key]
            self._done[key] = min(expected, round(done * expected / total)) if total > 0 else 0

    def restart(self, key: str) -> None:
        """The task runs again (its actor died): its frames are not done any more."""
        with self._lock:
            if key not in self._finished:
                self._done[key] = 0

    def finish(self, key: str) -> None:
        with self._lock:
            self._finished.add(key)
            self._done[key] = self._expected.get(key, 1)

    def drop(self, key: str) -> None:
        """A task that will not run (its target failed): out of the totals."""
        with self._lock:
            self._expected.pop(key, None)
            self._done.pop(key, None)
            self._finished.discard(key)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(sum(self._done.values()), sum(self._expected.values()),
                            len(self._finished), len(self._expected))
