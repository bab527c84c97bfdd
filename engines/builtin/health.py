"""Health bookkeeping: errors make the engine degraded; a run of good frames makes it ok again."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from engines.base import EngineHealth, HealthState, ModelHealth


@dataclass
class HealthTracker:
    recover_after: int = 10  # consecutive good frames that clear a degraded state
    loaded: bool = False
    frames: int = 0
    errors: int = 0
    good_streak: int = 0
    last_error: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelHealth] = {}

    def set_model(self, model: ModelHealth) -> None:
        with self._lock:
            self._models[model.role] = model

    def drop_model(self, role: str) -> None:
        with self._lock:
            self._models.pop(role, None)

    def mark_model(self, role: str, healthy: bool, note: str | None) -> None:
        with self._lock:
            if role in self._models:
                self._models[role] = replace(self._models[role], healthy=healthy, note=note)

    def success(self, frames: int) -> None:
        with self._lock:
            self.frames += frames
            self.good_streak += frames

    def failure(self, frames: int, message: str) -> None:
        with self._lock:
            self.frames += frames
            self.errors += 1
            self.good_streak = 0
            self.last_error = message

    def snapshot(self, stages_ms: dict[str, float]) -> EngineHealth:
        with self._lock:
            models = tuple(self._models.values())
            if not self.loaded:
                state = HealthState.DOWN
            elif (self.errors and self.good_streak < self.recover_after) or not all(m.healthy for m in models):
                state = HealthState.DEGRADED
            else:
                state = HealthState.OK
            return EngineHealth(state=state, models=models, last_error=self.last_error, errors=self.errors,
                                frames=self.frames, stages_ms=dict(stages_ms))
