"""Engine health for the GUI's health panel and `swapcast engines`: ok / degraded / down, with why.

The monitor checks every engine (periodically on its own thread, or once with check_now()), listens
to the manager's run events to count crashes and failures, and keeps metrics per engine over a
window of recent runs: fps, latency per frame, error rate. Servers the app launches are restarted
when found down, with back-off (engines/external/server.py holds the back-off).

Plain dataclasses and a lock; no Qt. The GUI polls `reports()` (cheap, never blocks on a check).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engines.base import EngineHealth, HealthState
from engines.external.base import Availability, EngineAdapter
from engines.external.server import ServerSupervisor
from engines.manager import EngineEvent, EngineManager

log = logging.getLogger(__name__)

# For in-process engines loaded in this process (the app's engine cache knows them).
LoadedHealth = Callable[[str], "EngineHealth | None"]


@dataclass(frozen=True)
class EngineMetrics:
    fps: float | None = None  # frames per second over the recent runs that succeeded
    latency_ms: float | None = None  # mean time per frame of those runs
    error_rate: float = 0.0  # failed runs / runs, over the window
    runs: int = 0  # in the window
    errors: int = 0  # in the window
    frames: int = 0  # in the window

    def to_dict(self) -> dict[str, Any]:
        return {"fps": None if self.fps is None else round(self.fps, 2),
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
                "error_rate": round(self.error_rate, 3), "runs": self.runs, "errors": self.errors,
                "frames": self.frames}


@dataclass(frozen=True)
class EngineHealthReport:
    name: str
    state: HealthState
    reason: str | None
    enabled: bool
    available: bool
    version: str | None
    checked_at: float  # time.time() of the check
    check_ms: float | None  # how long the availability check took (a server's round trip)
    crashes: int  # process deaths seen since the monitor started
    restarts: int  # times the app started the engine's server again
    failures_in_a_row: int
    metrics: EngineMetrics

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "reason": self.reason, "enabled": self.enabled,
                "available": self.available, "version": self.version, "checked_at": self.checked_at,
                "check_ms": None if self.check_ms is None else round(self.check_ms, 1),
                "crashes": self.crashes, "restarts": self.restarts, "failures_in_a_row": self.failures_in_a_row,
                "metrics": self.metrics.to_dict()}


@dataclass(frozen=True)
class _Run:
    ok: bool
    frames: int
    seconds: float


class _Tally:
    def __init__(self, window: int) -> None:
        self.runs: deque[_Run] = deque(maxlen=window)
        self.crashes = 0
        self.last_error: str | None = None

    def metrics(self) -> EngineMetrics:
        runs = list(self.runs)
        good = [r for r in runs if r.ok and r.frames > 0 and r.seconds > 0]
        frames = sum(r.frames for r in good)
        seconds = sum(r.seconds for r in good)
        errors = sum(1 for r in runs if not r.ok)
        return EngineMetrics(fps=frames / seconds if seconds > 0 else None,
                             latency_ms=1000 * seconds / frames if frames else None,
                             error_rate=errors / len(runs) if runs else 0.0, runs=len(runs), errors=errors,
                             frames=sum(r.frames for r in runs))


class HealthMonitor:
    def __init__(self, manager: EngineManager, *, interval_s: float = 10.0, window: int = 20,
                 degraded_error_rate: float = 0.25, loaded_health: LoadedHealth | None = None,
                 restart: bool = True) -> None:
        self.manager = manager
        self.interval_s = interval_s
        self.degraded_error_rate = degraded_error_rate
        self._loaded_health = loaded_health
        self._restart = restart
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {a.name: _Tally(window) for a in manager.adapters()}
        self._reports: dict[str, EngineHealthReport] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        manager.add_listener(self._on_event)

    # ---- feeding ---------------------------------------------------------------------------
    def _tally(self, name: str) -> _Tally:
        return self._tallies.setdefault(name, _Tally(20))

    def _on_event(self, event: EngineEvent) -> None:
        with self._lock:
            tally = self._tally(event.engine)
            if event.kind == "succeeded":
                tally.runs.append(_Run(True, event.frames, event.seconds))
            elif event.kind in ("failed", "crashed", "transient"):
                tally.runs.append(_Run(False, event.frames, event.seconds))
                tally.last_error = event.message
                if event.kind == "crashed":
                    tally.crashes += 1
            # input_error: the user's files, not the engine's health.

    def record_frames(self, name: str, frames: int, seconds: float, errors: int = 0) -> None:
        """For callers outside the manager (the live pipeline): frames swapped in `seconds`."""
        with self._lock:
            tally = self._tally(name)
            if frames:
                tally.runs.append(_Run(True, frames, seconds))
            for _ in range(errors):
                tally.runs.append(_Run(False, 0, 0.0))

    # ---- checking --------------------------------------------------------------------------
    def check_now(self) -> list[EngineHealthReport]:
        """Check every engine now (restarting launchable servers found down); best engine first."""
        reports = [self._check(adapter) for adapter in self.manager.adapters()]
        with self._lock:
            self._reports = {r.name: r for r in reports}
        return reports

    def reports(self) -> list[EngineHealthReport]:
        """The last results, without checking (what a panel polls)."""
        with self._lock:
            return list(self._reports.values())

    def report(self, name: str) -> EngineHealthReport | None:
        with self._lock:
            return self._reports.get(name)

    def _check(self, adapter: EngineAdapter) -> EngineHealthReport:
        return self.evaluate(adapter)

    def evaluate(self, adapter: EngineAdapter, availability: Availability | None = None) -> EngineHealthReport:
        """One engine's report; `availability` when the caller has just checked it (saves a second probe)."""
        config = adapter.config
        if availability is None:
            try:
                availability = adapter.check()
            except Exception as error:  # noqa: BLE001 — a broken check is a down engine, not a dead monitor
                availability = Availability.no(f"health check failed: {type(error).__name__}: {error}")
        restarts = self._restarts(adapter)
        if config.enabled and not availability.available and adapter.restartable and self._restart:
            if adapter.restart():
                availability = adapter.check()
            restarts = self._restarts(adapter)
        resting, in_a_row, last_error = self.manager.resting(adapter.name)
        with self._lock:
            tally = self._tally(adapter.name)
            metrics = tally.metrics()
            crashes = tally.crashes + self._server_crashes(adapter)
            recent_error = tally.last_error
        state, reason = self._judge(adapter, availability, resting, in_a_row, last_error, metrics, recent_error)
        return EngineHealthReport(name=adapter.name, state=state, reason=reason, enabled=config.enabled,
                                  available=availability.available, version=availability.version,
                                  checked_at=time.time(), check_ms=availability.latency_ms, crashes=crashes,
                                  restarts=restarts, failures_in_a_row=in_a_row, metrics=metrics)

    def _judge(self, adapter: EngineAdapter, availability: Availability, resting: float, in_a_row: int,
               last_error: str | None, metrics: EngineMetrics, recent_error: str | None) -> tuple[HealthState, str | None]:
        if not adapter.config.enabled:
            return HealthState.DOWN, "disabled in integrations.json"
        if not availability.available:
            return HealthState.DOWN, availability.reason
        if resting > 0:
            return HealthState.DEGRADED, (f"failed {in_a_row} time(s) in a row ({last_error}); "
                                          f"next try in {resting:.0f} s")
        loaded = self._loaded_health(adapter.name) if self._loaded_health and adapter.in_process else None
        if loaded is not None and loaded.state is not HealthState.OK:
            why = loaded.last_error or ", ".join(f"{m.role}: {m.note}" for m in loaded.models if m.note) or None
            return loaded.state, why
        if metrics.runs and metrics.error_rate >= self.degraded_error_rate:
            return HealthState.DEGRADED, f"{metrics.errors} of the last {metrics.runs} runs failed (last: {recent_error})"
        if loaded is not None:
            return HealthState.OK, f"loaded: {loaded.provider_summary}"
        return HealthState.OK, availability.reason

    @staticmethod
    def _supervisor(adapter: EngineAdapter) -> ServerSupervisor | None:
        supervisor = getattr(adapter, "supervisor", None)
        return supervisor if isinstance(supervisor, ServerSupervisor) else None

    def _restarts(self, adapter: EngineAdapter) -> int:
        supervisor = self._supervisor(adapter)
        return max(0, supervisor.state().starts - 1) if supervisor is not None else 0

    def _server_crashes(self, adapter: EngineAdapter) -> int:
        supervisor = self._supervisor(adapter)
        return supervisor.state().crashes if supervisor is not None else 0

    # ---- background ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="engine-health", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_now()
            except Exception:  # noqa: BLE001 — keep watching
                log.exception("engine health check failed")
            self._stop.wait(self.interval_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.manager.remove_listener(self._on_event)
