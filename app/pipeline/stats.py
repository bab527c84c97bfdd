"""Live statistics: rates, capture→output latency percentiles, drops and per-stage times.

Everything is kept over a short sliding window so the numbers describe *now* (a latency that grows
over time shows up as a rising p95, not as a slowly moving all-time average).
"""

from __future__ import annotations

import enum
import json
import os
import threading
from collections import deque
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from engines.base import EngineHealth

from .api import LiveStats, OutputStatus, SessionState
from .controls import ControlState
from .frame import now

WINDOW_S = 5.0  # latency percentiles are over the last few seconds
RATE_WINDOW_S = 2.0  # fps is over the last two seconds: reacts fast, still steady at 30 fps
STAGE_SAMPLES = 60  # per-stage means are over the last 60 samples (2 s at 30 fps)


@dataclass(frozen=True)
class StatsSnapshot:
    fps_in: float = 0.0
    fps_out: float = 0.0
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0
    dropped: int = 0
    frames: int = 0
    errors: int = 0
    stages_ms: dict[str, float] = field(default_factory=dict)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[rank]


class PipelineStats:
    """Thread-safe counters that the capture, processing and output threads feed."""

    def __init__(self, window_s: float = WINDOW_S, rate_window_s: float = RATE_WINDOW_S) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._rate_window_s = rate_window_s
        self._started = now()
        self._captured: deque[float] = deque()
        self._processed: deque[float] = deque()
        self._latency: deque[tuple[float, float]] = deque()  # (when, ms)
        self._stages: dict[str, deque[float]] = {}
        self.dropped = 0
        self.frames = 0
        self.errors = 0

    def reset_clock(self) -> None:
        with self._lock:
            self._started = now()

    def captured(self, at: float) -> None:
        with self._lock:
            self._captured.append(at)
            self._trim(self._captured, at, self._rate_window_s)

    def drop(self, count: int = 1) -> None:
        with self._lock:
            self.dropped += count

    def error(self) -> None:
        with self._lock:
            self.errors += 1

    def processed(self, captured_at: float, done_at: float) -> None:
        with self._lock:
            self.frames += 1
            self._processed.append(done_at)
            self._trim(self._processed, done_at, self._rate_window_s)
            self._latency.append((done_at, (done_at - captured_at) * 1000.0))
            while self._latency and self._latency[0][0] < done_at - self._window_s:
                self._latency.popleft()

    def stage(self, name: str, ms: float) -> None:
        with self._lock:
            samples = self._stages.get(name)
            if samples is None:
                samples = self._stages[name] = deque(maxlen=STAGE_SAMPLES)
            samples.append(ms)

    @staticmethod
    def _trim(times: deque[float], at: float, window: float) -> None:
        while times and times[0] < at - window:
            times.popleft()

    def _rate(self, times: deque[float], at: float) -> float:
        self._trim(times, at, self._rate_window_s)
        span = min(self._rate_window_s, at - self._started)
        return len(times) / span if span > 0.05 else 0.0

    def latencies(self) -> list[float]:
        """The latency samples (ms) of the current window, oldest first."""
        with self._lock:
            return [ms for _, ms in self._latency]

    def snapshot(self) -> StatsSnapshot:
        at = now()
        with self._lock:
            while self._latency and self._latency[0][0] < at - self._window_s:
                self._latency.popleft()
            ordered = sorted(ms for _, ms in self._latency)
            return StatsSnapshot(
                fps_in=round(self._rate(self._captured, at), 2),
                fps_out=round(self._rate(self._processed, at), 2),
                latency_ms_p50=round(percentile(ordered, 0.50), 2),
                latency_ms_p95=round(percentile(ordered, 0.95), 2),
                dropped=self.dropped,
                frames=self.frames,
                errors=self.errors,
                stages_ms={k: round(sum(v) / len(v), 3) for k, v in self._stages.items() if v},
            )


def to_jsonable(value: Any) -> Any:
    """LiveStats (dataclasses, enums, paths, tuples) as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, document: Any) -> None:
    """Write beside the target and rename over it, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(to_jsonable(document), indent=1))
    os.replace(temp, path)


def live_stats(state: SessionState, message: str, snap: StatsSnapshot, own_stages_ms: dict[str, float],
               controls: ControlState, outputs: tuple[OutputStatus, ...], engine: EngineHealth | None) -> LiveStats:
    """The session's public snapshot: the pipeline's counters, this session's own stage times (the
    engine may also be running offline jobs), the controls as the board holds them, the outputs."""
    stages = dict(snap.stages_ms)
    stages.update({k: round(v, 3) for k, v in own_stages_ms.items()})
    return LiveStats(
        state=state, message=message, fps_in=snap.fps_in, fps_out=snap.fps_out,
        latency_ms_p50=snap.latency_ms_p50, latency_ms_p95=snap.latency_ms_p95, dropped=snap.dropped,
        frames=snap.frames, stages_ms=stages, outputs=outputs, engine=engine,
        bypass=controls.bypass, mirror=controls.mirror, enhance=controls.enhance,
        face_mode=controls.face_mode, active_source=controls.active_source, mouth_mask=controls.mouth_mask,
    )
