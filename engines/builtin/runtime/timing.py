"""Per-stage timing with a short rolling window, cheap enough to run on every frame."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

STAGES: tuple[str, ...] = ("detect", "recognize", "align", "swap", "paste", "enhance", "lip_sync")

# SwapContext.stream_state key: a StageTimer of one stream's own frames (an engine shared by a live
# session and offline jobs keeps one engine-wide timer too, which mixes both).
STREAM_TIMER = "timer"


class StageTimer:
    def __init__(self, window: int = 60) -> None:
        self._samples: dict[str, deque[float]] = {}
        self._window = window
        self._lock = threading.Lock()

    def stage(self, name: str) -> AbstractContextManager[None]:
        return timed(name, self)

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self._window)).append(ms)

    def means(self) -> dict[str, float]:
        with self._lock:
            return {name: sum(v) / len(v) for name, v in self._samples.items() if v}

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()


class TimerSet:
    """Times a stage once and records it in each timer (engine-wide and per stream)."""

    def __init__(self, *timers: StageTimer) -> None:
        self._timers = timers

    def stage(self, name: str) -> AbstractContextManager[None]:
        return timed(name, *self._timers)


@contextmanager
def timed(name: str, *timers: StageTimer) -> Iterator[None]:
    """Times the block once and records it in every timer given."""
    start = time.perf_counter()
    try:
        yield
    finally:
        ms = (time.perf_counter() - start) * 1000.0
        for timer in timers:
            timer.add(name, ms)
