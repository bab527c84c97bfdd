"""What `GET /api/status` reports, JSON-ready: version, engines and their health, GPU memory, system
load, the live session, queue counts. The event stream reuses the parts (`engines()` for health changes).

Cheap enough to poll: nothing here loads an engine. An engine that is loaded in this process reports
its models (provider, loaded, degraded); one that is not says so. The engine checks (a server's round
trip for external engines) are cached for ENGINE_TTL_S; GPU and system readings are live.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from app import __version__
from app.monitor.gpu import GpuReport, read_gpus
from app.monitor.system import SystemStats, read_system

from .context import ServerContext

_log = logging.getLogger(__name__)

ENGINE_TTL_S = 5.0

_monitor: Any = None  # app.monitor.health.HealthMonitor, made on the first read (imports the engine layer)
_monitor_lock = threading.Lock()


def queue_counts(context: ServerContext) -> dict[str, int]:
    """Jobs in each state (every state, 0 where none), keys lower-case: pending, processing, ..."""
    return {state.value.lower(): n for state, n in context.store.counts().items()}


# ---- engines -------------------------------------------------------------------------------------
def _engine_entry(status: dict[str, Any], report: dict[str, Any], loaded: Any | None) -> dict[str, Any]:
    models = [] if loaded is None else [
        {"role": m.role, "model_id": m.model_id, "provider": m.provider, "loaded": m.loaded,
         "degraded": not m.healthy or bool(m.fallback_reason), "fallback_reason": m.fallback_reason, "note": m.note}
        for m in loaded.models]
    return {
        "name": status["name"], "kind": status["kind"], "transport": status["transport"],
        "enabled": status["enabled"], "available": status["available"], "priority": status["priority"],
        "modes": status["modes"], "in_process": status["in_process"],
        "state": report["state"], "reason": report["reason"],  # ok | degraded | down, and why
        "loaded": bool(loaded is not None and any(m["loaded"] for m in models)),
        "models": models, "metrics": report["metrics"], "crashes": report["crashes"],
    }


def _read_engines() -> dict[str, Any]:
    """Every engine of integrations.json with its health, as `swapcast engines` reports it."""
    from app.engine_host import cache as engine_cache
    from app.monitor.health import HealthMonitor
    from engines.external.base import Availability

    global _monitor
    manager = engine_cache.shared_manager()
    with _monitor_lock:
        if _monitor is None or _monitor.manager is not manager:  # first read, or integrations.json changed
            if _monitor is not None:
                _monitor.stop()
            # One monitor per manager, kept: it tallies the runs of this process's jobs (fps, error
            # rate). A status read must not start servers or load models: restart=False.
            _monitor = HealthMonitor(manager, restart=False, loaded_health=engine_cache.loaded_health)
        monitor = _monitor
    engines = []
    for adapter in manager.adapters():
        try:
            availability = adapter.check()
        except Exception as error:  # noqa: BLE001 — one broken adapter must not hide the others
            availability = Availability.no(f"check failed: {type(error).__name__}: {error}")
        loaded = engine_cache.loaded_health(adapter.name) if adapter.in_process else None
        engines.append(_engine_entry(manager.status(adapter, availability).to_dict(),
                                     monitor.evaluate(adapter, availability).to_dict(), loaded))
    return {"engines": engines, "error": None}


class EngineView:
    """The engines section, re-read at most every `ttl_s` (a status poll must stay cheap)."""

    def __init__(self, read: Callable[[], dict[str, Any]] = _read_engines, ttl_s: float = ENGINE_TTL_S) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    def get(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.ttl_s:
                try:
                    value = self._read()
                except Exception as error:  # noqa: BLE001 — a broken integrations.json is reported, not a 500
                    _log.warning("engine status failed: %s", error)
                    text = getattr(error, "one_line", None)
                    value = {"engines": [], "error": text() if callable(text) else f"{type(error).__name__}: {error}"}
                self._cached = (now, value)
            return self._cached[1]

    def invalidate(self) -> None:
        """Read afresh next time (an engine was just loaded or released here)."""
        with self._lock:
            self._cached = None


_engines = EngineView()


def refresh_engines() -> None:
    """The next status read checks the engines again instead of answering from the cache."""
    _engines.invalidate()


def engines() -> dict[str, Any]:
    """{"engines": [...], "error": None | "why none could be listed"}."""
    return _engines.get()


# ---- machine -------------------------------------------------------------------------------------
def gpu_section(report: GpuReport | None = None) -> dict[str, Any]:
    report = report if report is not None else read_gpus()
    return {"available": report.available, "reason": report.reason, "gpus": [
        {"index": g.index, "name": g.name, "memory_used": g.memory_used, "memory_total": g.memory_total,
         "memory_free": g.memory_free, "utilization": g.utilization, "process_memory": g.process_memory,
         "driver_version": g.driver_version} for g in report.gpus]}


def system_section(stats: SystemStats | None = None) -> dict[str, Any]:
    stats = stats if stats is not None else read_system()
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):  # Windows has no load average
        load = None
    return {"cpu_percent": round(stats.cpu_percent, 1), "cpu_count": stats.cpu_count, "load_average": load,
            "ram_used": stats.ram_used, "ram_total": stats.ram_total, "ram_percent": round(stats.ram_percent, 1),
            "process_rss": stats.process_rss, "process_cpu_percent": round(stats.process_cpu_percent, 1)}


def engines_snapshot(context: ServerContext) -> list[dict[str, Any]]:
    """The engines' health without their running tallies (fps, error rate): what the event stream
    compares once a second and sends when it changes."""
    return [{key: engine[key] for key in ("name", "available", "state", "reason", "loaded", "models")}
            for engine in engines()["engines"]]


# ---- all of it -----------------------------------------------------------------------------------
def status_snapshot(context: ServerContext) -> dict[str, Any]:
    engine_part = engines()
    return {
        "version": __version__,
        "engines": engine_part["engines"],
        "engines_error": engine_part["error"],
        "gpu": gpu_section(),
        "system": system_section(),
        "live": context.live.snapshot(),  # None when no session has run
        "queue": queue_counts(context),
        "avatar": avatar_section(context),
    }


def avatar_section(context: ServerContext) -> dict[str, Any]:
    """Avatar sessions in a line: how many of how many, and the memory level that governs them."""
    status = context.avatars.status()
    return {"sessions": len(status["sessions"]), "max_sessions": status["max_sessions"], "memory": status["memory"]}
