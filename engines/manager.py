"""The engine manager: which engines exist, which can run now (and why not), and running a target
on the best one with retries and failover.

- Order: enabled engines that support the mode, highest priority first. Engines that cannot honour a
  job's options (a reference photo, a trim) or are unavailable are skipped, with the reason.
- Transient errors (a timeout, HTTP 5xx, GPU memory busy) are retried on the same engine with
  exponential back-off; after the last try, the next engine gets the target.
- Engine errors (a crash, garbage output, a refused argument) go straight to the next engine.
- User errors (no face in the source, a corrupt target) stop at once: every engine would fail alike.
- External engines that failed are rested with growing back-off (a crashing install is not hammered
  on every job); in-process engines are not (they have no process to restart).
- Live mode (image_to_camera) only ever uses an in-process engine.
- The built-in engine is one adapter among the others (engines/external/inprocess.py); what it
  needs from the app (loaded engines, video I/O) is the InProcessRuntime handed in at construction.

Progress passes straight through; after a failover it starts again from 0 for the next engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from engines.errors import InputError, ModelError, SwapCastError, TransientError
from engines.external.base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult
from engines.external.comfyui.adapter import ComfyUIAdapter
from engines.external.config import EngineConfig, IntegrationsConfig, Mode, Transport, load_integrations
from engines.external.deep_live_cam import DeepLiveCamAdapter
from engines.external.errors import EngineFailure, EngineUnavailable
from engines.external.facefusion_cli import FaceFusionCliAdapter
from engines.external.facefusion_http import FaceFusionHttpAdapter
from engines.external.inprocess import InProcessAdapter, InProcessRuntime
from engines.external.iroop import IRoopAdapter

MODE_WORDS = {Mode.IMAGE_TO_CAMERA: "swap live camera frames", Mode.IMAGE_TO_IMAGE: "swap images",
              Mode.IMAGE_TO_VIDEO: "swap videos"}


class UnsupportedTransport(EngineAdapter):
    """A configured transport with no adapter for its kind (FaceFusion over websocket): listed, never used."""

    def check(self) -> Availability:
        return Availability.no(f"the {self.config.transport.value} transport is not implemented yet "
                               f"for {self.config.kind}; use subprocess or http")

    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        raise EngineUnavailable(self.check().reason or "not implemented")


def create_adapter(config: EngineConfig, clock: Callable[[], float] = time.monotonic,
                   runtime: InProcessRuntime | None = None) -> EngineAdapter:
    if config.kind == "builtin":
        return InProcessAdapter(config, runtime)
    if config.kind == "facefusion" and config.transport is Transport.SUBPROCESS:
        return FaceFusionCliAdapter(config, clock=clock)
    if config.kind == "facefusion" and config.transport is Transport.HTTP:
        return FaceFusionHttpAdapter(config, clock=clock)
    if config.kind == "deep-live-cam" and config.transport is Transport.SUBPROCESS:
        return DeepLiveCamAdapter(config, clock=clock)
    if config.kind == "iroop" and config.transport is Transport.SUBPROCESS:
        return IRoopAdapter(config, clock=clock)
    if config.kind == "comfyui" and config.transport is Transport.WEBSOCKET:
        return ComfyUIAdapter(config, runtime, clock=clock)  # borrows the runtime's video pipeline
    return UnsupportedTransport(config)


@dataclass(frozen=True)
class EngineStatus:
    name: str
    kind: str
    transport: str
    enabled: bool
    priority: int
    modes: tuple[str, ...]
    in_process: bool
    available: bool
    reason: str | None  # why not available (or a note when it is)
    version: str | None
    resting_s: float  # > 0: skipped after failures for this long yet
    failures_in_a_row: int
    description: str = ""

    @property
    def usable(self) -> bool:
        return self.enabled and self.available and self.resting_s <= 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "transport": self.transport, "enabled": self.enabled,
                "priority": self.priority, "modes": list(self.modes), "in_process": self.in_process,
                "available": self.available, "reason": self.reason, "version": self.version,
                "resting_s": round(self.resting_s, 1), "failures_in_a_row": self.failures_in_a_row,
                "description": self.description}


@dataclass(frozen=True)
class Attempt:
    engine: str
    number: int  # 1-based try on this engine
    outcome: str  # ok | transient | failed | crashed | input_error
    message: str | None
    seconds: float


@dataclass(frozen=True)
class RunOutcome:
    result: SwapResult
    engine: str
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...] = ()  # "engine: why", for engines not tried

    @property
    def failed_over(self) -> bool:
        return any(a.engine != self.engine for a in self.attempts)

    def failover_note(self) -> str | None:
        failed = [a for a in self.attempts if a.engine != self.engine]
        if not failed:
            return None
        last = failed[-1]
        return f"{last.engine} failed ({last.message}); done by {self.engine} instead"


@dataclass(frozen=True)
class EngineEvent:
    """What the health monitor hears: one per try, and its end."""

    engine: str
    kind: str  # started | succeeded | transient | failed | crashed | input_error
    frames: int = 0
    seconds: float = 0.0
    message: str | None = None
    at: float = field(default_factory=time.time)


EventListener = Callable[[EngineEvent], None]


@dataclass
class _Rest:
    failures_in_a_row: int = 0
    until: float = 0.0
    last_error: str | None = None


class EngineManager:
    def __init__(self, config: IntegrationsConfig, *, adapters: Mapping[str, EngineAdapter] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rest_base_s: float = 5.0, rest_max_s: float = 300.0, runtime: InProcessRuntime | None = None) -> None:
        """`runtime`: what in-process engines borrow from the app (loaded engines, video I/O); without
        it they are listed and checked but cannot run a target."""
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rest_base_s = rest_base_s
        self._rest_max_s = rest_max_s
        given = dict(adapters or {})
        self._adapters: dict[str, EngineAdapter] = {
            c.name: given.get(c.name) or create_adapter(c, clock, runtime) for c in config.engines}
        self._rest: dict[str, _Rest] = {name: _Rest() for name in self._adapters}
        self._lock = threading.Lock()
        self._listeners: list[EventListener] = []

    @classmethod
    def from_file(cls, path: Path | None = None, **kwargs: Any) -> EngineManager:
        return cls(load_integrations(path), **kwargs)

    # ---- registry --------------------------------------------------------------------------
    def adapter(self, name: str) -> EngineAdapter:
        if name not in self._adapters:
            self.config.engine(name)  # raises the one-line "no engine named"
        return self._adapters[name]

    def adapters(self) -> list[EngineAdapter]:
        """Every engine, enabled or not, best first."""
        return sorted(self._adapters.values(), key=lambda a: (-a.config.priority, a.name))

    def add_listener(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, event: EngineEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 — an observer must never break a job
                pass

    def resting(self, name: str) -> tuple[float, int, str | None]:
        """(seconds left to rest, failures in a row, last error) of an engine."""
        with self._lock:
            rest = self._rest[name]
            return max(0.0, rest.until - self._clock()), rest.failures_in_a_row, rest.last_error

    def status(self, adapter: EngineAdapter, availability: Availability | None = None) -> EngineStatus:
        config = adapter.config
        availability = availability or adapter.check()
        resting, in_a_row, _ = self.resting(adapter.name)
        return EngineStatus(name=config.name, kind=config.kind, transport=config.transport.value,
                            enabled=config.enabled, priority=config.priority,
                            modes=tuple(m.value for m in config.modes), in_process=config.in_process,
                            available=availability.available, reason=availability.reason,
                            version=availability.version, resting_s=resting, failures_in_a_row=in_a_row,
                            description=config.description)

    def statuses(self) -> list[EngineStatus]:
        """Every engine with its availability (checks each one now; cached where costly)."""
        return [self.status(adapter) for adapter in self.adapters()]

    # ---- choice ----------------------------------------------------------------------------
    def candidates(self, mode: Mode, request: SwapRequest | None = None) -> tuple[list[EngineAdapter], list[str]]:
        """Engines to try for `mode`, best first, and why the others are left out."""
        chosen: list[EngineAdapter] = []
        skipped: list[str] = []
        for adapter in self.adapters():
            config = adapter.config
            if not config.supports(mode):
                continue
            if not config.enabled:
                skipped.append(f"{adapter.name}: disabled")
                continue
            if mode is Mode.IMAGE_TO_CAMERA and not adapter.in_process:
                continue  # the config rules already refuse this; belt and braces
            resting, in_a_row, last_error = self.resting(adapter.name)
            if resting > 0:
                skipped.append(f"{adapter.name}: resting {resting:.0f} s after {in_a_row} failure(s) ({last_error})")
                continue
            if request is not None:
                reason = adapter.unsupported(request)
                if reason:
                    skipped.append(f"{adapter.name}: {reason}")
                    continue
            availability = adapter.check()
            if not availability.available and adapter.restartable and adapter.restart():
                availability = adapter.check()
            if not availability.available:
                skipped.append(f"{adapter.name}: {availability.reason}")
                continue
            chosen.append(adapter)
        return chosen, skipped

    def choose(self, mode: Mode, request: SwapRequest | None = None) -> EngineAdapter:
        chosen, skipped = self.candidates(mode, request)
        if not chosen:
            raise self._none_available(mode, skipped)
        return chosen[0]

    def live_adapter(self) -> InProcessAdapter:
        """The in-process engine for live mode (image_to_camera)."""
        adapter = self.choose(Mode.IMAGE_TO_CAMERA)  # candidates() admits only in-process engines here
        return cast(InProcessAdapter, adapter)

    @staticmethod
    def _none_available(mode: Mode, skipped: list[str]) -> EngineUnavailable:
        why = "; ".join(skipped) if skipped else "no engine lists this mode"
        return EngineUnavailable(f"no engine can {MODE_WORDS[mode]} now ({why})",
                                 "enable or fix one in integrations.json; `swapcast engines` says why each is unavailable")

    # ---- running ---------------------------------------------------------------------------
    def run(self, request: SwapRequest, progress: ProgressCallback) -> RunOutcome:
        """Swap one target: the best engine, retries, failover. Raises the error that ends it.

        InputError (SourceError and OutputError included) propagates at once: no engine can fix it. When every engine failed: the one
        error if only one engine was tried, else one line naming each engine's failure (a
        TransientError if any failure was transient, so the queue retries the job later).
        """
        chosen, skipped = self.candidates(request.mode, request)
        if not chosen:
            raise self._none_available(request.mode, skipped)
        attempts: list[Attempt] = []
        errors: list[tuple[str, BaseException]] = []
        seen = {"done": 0, "total": 0}

        def relay(done: int, total: int) -> None:
            seen["done"], seen["total"] = done, total
            progress(done, total)

        models_failed = False
        for adapter in chosen:
            if models_failed and adapter.in_process:
                # In-process engines share the model files: one's ModelError is every one's.
                skipped.append(f"{adapter.name}: same model files as the engine that just failed")
                continue
            retries = adapter.config.retries
            for number in range(1, retries.attempts + 1):
                started = self._clock()
                seen["done"] = 0
                self._emit(EngineEvent(adapter.name, "started"))
                try:
                    result = adapter.run(request, relay)
                except InputError as error:
                    self._record(attempts, adapter, number, "input_error", error, started)
                    raise
                except TransientError as error:
                    self._record(attempts, adapter, number, "transient", error, started)
                    if number < retries.attempts:
                        self._wait(retries.delay(number), progress, seen)
                        continue
                    errors.append((adapter.name, error))
                    self._rest_after_failure(adapter, error)
                    break
                except Exception as error:  # noqa: BLE001 — any other failure: the next engine
                    crashed = bool(getattr(error, "crashed", False))
                    self._record(attempts, adapter, number, "crashed" if crashed else "failed", error, started)
                    errors.append((adapter.name, error))
                    self._rest_after_failure(adapter, error)
                    models_failed = models_failed or (isinstance(error, ModelError) and adapter.in_process)
                    break
                seconds = self._clock() - started
                attempts.append(Attempt(adapter.name, number, "ok", None, seconds))
                self._emit(EngineEvent(adapter.name, "succeeded", frames=result.frames, seconds=seconds))
                with self._lock:
                    self._rest[adapter.name] = _Rest()
                return RunOutcome(result, adapter.name, tuple(attempts), tuple(skipped))
        raise self._final_error(errors)

    def _record(self, attempts: list[Attempt], adapter: EngineAdapter, number: int, outcome: str,
                error: BaseException, started: float) -> None:
        seconds = self._clock() - started
        message = _one_line(error)
        attempts.append(Attempt(adapter.name, number, outcome, message, seconds))
        self._emit(EngineEvent(adapter.name, outcome, seconds=seconds, message=message))

    def _rest_after_failure(self, adapter: EngineAdapter, error: BaseException) -> None:
        if adapter.in_process:
            return
        with self._lock:
            rest = self._rest[adapter.name]
            rest.failures_in_a_row += 1
            rest.last_error = _one_line(error)
            delay = min(self._rest_max_s, self._rest_base_s * 2 ** (rest.failures_in_a_row - 1))
            rest.until = self._clock() + delay

    def _wait(self, seconds: float, progress: ProgressCallback, seen: dict[str, int]) -> None:
        """Back-off that still lets a cancel through (progress may raise)."""
        deadline = self._clock() + seconds
        while True:
            left = deadline - self._clock()
            if left <= 0:
                return
            self._sleep(min(0.2, left))
            progress(0, max(seen["total"], 1))

    @staticmethod
    def _final_error(errors: list[tuple[str, BaseException]]) -> BaseException:
        if len(errors) == 1:
            return errors[0][1]  # the error as it was: its message and class are what the user needs
        summary = "; ".join(f"{name}: {_one_line(error)}" for name, error in errors)
        if any(isinstance(error, TransientError) for _, error in errors):
            return TransientError(f"every engine failed ({summary})", "the job will be retried")
        return EngineFailure(f"every engine failed ({summary})", "`swapcast engines` shows each engine's state")

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()


def _one_line(error: BaseException) -> str:
    if isinstance(error, SwapCastError):
        return error.problem  # the fix belongs to the final message, not to each engine's part
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__

