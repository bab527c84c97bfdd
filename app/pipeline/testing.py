"""Stand-ins for testing (and building a GUI) without a camera or models: a synthetic camera, a
pass-through engine, a slow wrapper engine, a preview collector, bounded waits."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from app.pipeline.capture import CaptureError, SourceInfo
from app.pipeline.frame import now
from engines.base import (
    Capability, Engine, EngineHealth, Frame, HealthState, Identity, LoadOptions, ProgressFn, SwapContext,
)


def wait_until(condition: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


class SyntheticSource:
    """A camera that paces itself at `fps`; with `fail_after`, it 'unplugs' after that many frames of
    its first opening (read raises), and works again once reopened."""

    def __init__(self, fps: float = 30.0, size: tuple[int, int] = (160, 120), fail_after: int | None = None) -> None:
        self.name = "synthetic camera"
        self.fps = fps
        self.size = size
        self.fail_after = fail_after
        self.last_work_ms = 0.0
        self.opens = 0
        self.reads = 0
        self._read_since_open = 0
        self._next = 0.0

    def open(self) -> SourceInfo:
        self.opens += 1
        self._read_since_open = 0
        self._next = now()
        return SourceInfo(self.name, self.size[0], self.size[1], self.fps)

    def read(self) -> tuple[np.ndarray, float]:
        if self.fail_after is not None and self.opens == 1 and self._read_since_open >= self.fail_after:
            raise CaptureError("synthetic camera stopped delivering frames (unplugged)")
        self._next += 1.0 / self.fps
        time.sleep(max(0.0, self._next - now()))
        self.reads += 1
        self._read_since_open += 1
        image = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        image[:, : self.size[0] // 4] = 255  # bright left quarter: mirroring is visible
        image[0, 0, 0] = self.reads % 256
        return image, now()

    def close(self) -> None:
        pass


class PassEngine(Engine):
    """Returns frames unchanged; records the contexts it saw; raises on the frame numbers in fail_on."""

    name = "pass"
    capabilities = frozenset({Capability.LIVE})

    def __init__(self, delay_s: float = 0.0, fail_on: set[int] | None = None) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on or set()
        self.calls = 0
        self.contexts: deque[SwapContext] = deque(maxlen=50)

    def load(self, options: LoadOptions, progress: ProgressFn | None = None) -> None:
        pass

    def health(self) -> EngineHealth:
        return EngineHealth(HealthState.OK, frames=self.calls)

    def identity(self, paths: Sequence[Path], name: str | None = None) -> Identity:
        vector = np.ones(512, np.float32) / np.sqrt(512)
        return Identity(name or Path(paths[0]).stem, vector, tuple(str(p) for p in paths))

    def process(self, frame: Frame, context: SwapContext) -> Frame:
        index = self.calls
        self.calls += 1
        self.contexts.append(context)
        if self.delay_s:
            time.sleep(self.delay_s)
        if index in self.fail_on:
            raise RuntimeError("model exploded")
        return frame

    def release(self) -> None:
        pass


class SlowEngine(Engine):
    """Wraps a real engine and sleeps `delay_s` per frame (a GPU-less box, a huge model)."""

    name = "slow"

    def __init__(self, inner: Engine, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.capabilities = inner.capabilities

    def load(self, options: LoadOptions, progress: ProgressFn | None = None) -> None:
        self.inner.load(options, progress)

    def health(self) -> EngineHealth:
        return self.inner.health()

    def identity(self, paths: Sequence[Path], name: str | None = None) -> Identity:
        return self.inner.identity(paths, name)  # type: ignore[attr-defined]

    def process(self, frame: Frame, context: SwapContext) -> Frame:
        time.sleep(self.delay_s)
        return self.inner.process(frame, context)

    def release(self) -> None:
        pass


class FrameCollector:
    """A preview listener that keeps copies of the last few frames, numbered, for later checks."""

    def __init__(self, keep: int = 16) -> None:
        self.count = 0
        self.frames: deque[tuple[int, np.ndarray, float]] = deque(maxlen=keep)
        self.latencies: list[tuple[float, float]] = []  # (arrival, ms since capture)
        self._lock = threading.Lock()
        self.store = True

    def __call__(self, image: np.ndarray, captured_at: float) -> None:
        arrived = now()
        with self._lock:
            self.count += 1
            self.latencies.append((arrived, (arrived - captured_at) * 1000.0))
            if self.store:
                self.frames.append((self.count, image.copy(), captured_at))

    def after(self, mark: int) -> list[np.ndarray]:
        with self._lock:
            return [image for n, image, _ in self.frames if n > mark]
