"""What the manager asks of every engine adapter: check the install, run one target, report progress.

The frame-level `engines.base.Engine` suits engines that live in this process. External engines work
on files (a source photo, a target, an output path), so the manager speaks to every engine, the
built-in one included, at this level: one target in, one tagged output file out.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .config import EngineConfig, Mode

if TYPE_CHECKING:
    from .inprocess import InProcessAdapter

ProgressCallback = Callable[[int, int], None]  # (frames done, frames total) of this target; may raise to stop


@dataclass(frozen=True)
class SwapRequest:
    """One target of a job, with the options that matter to an engine."""

    sources: tuple[Path, ...]
    target: Path
    output: Path  # the final file; adapters write beside it and rename at the end
    mode: Mode
    faces: str = "largest"  # largest | all | reference
    reference: Path | None = None
    source_face: int | None = None
    enhance: bool = False
    trim: tuple[float, float] | None = None  # seconds
    quality: int | None = None  # 0..100, higher is better
    encoder: str = "auto"
    audio: bool = True
    overwrite: bool = False
    models: str | None = None  # --models DIR of the job (in-process engines)
    frames_hint: int = 0  # frames the app expects (0: unknown), for progress before the engine says


@dataclass(frozen=True)
class SwapResult:
    output: Path
    engine: str = ""
    frames: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None  # why not (or a note when available, e.g. "models load on first use")
    version: str | None = None
    checked_at: float = field(default_factory=time.monotonic)
    latency_ms: float | None = None  # how long the check took (a health probe's round trip)

    @classmethod
    def no(cls, reason: str, version: str | None = None) -> Availability:
        return cls(False, reason, version)


class InProcessHost(Protocol):
    """The app side of in-process engines: runs a target through the built-in engine.

    engines/ must not import app/ (media I/O, the engine cache live there), so the app hands this in.
    """

    def run_in_process(self, adapter: InProcessAdapter, request: SwapRequest,
                       progress: ProgressCallback) -> SwapResult: ...


class EngineAdapter(ABC):
    """One configured engine. Thread-safe where it matters: check() may run on the monitor's thread."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def in_process(self) -> bool:
        return self.config.in_process

    @abstractmethod
    def check(self) -> Availability:
        """Can this engine run here now? Cheap enough for a periodic health check (results may be cached)."""

    def unsupported(self, request: SwapRequest) -> str | None:
        """Why this engine cannot honour the request's options (None: it can). The manager skips it."""
        return None

    @abstractmethod
    def run(self, request: SwapRequest, progress: ProgressCallback, host: InProcessHost | None = None) -> SwapResult:
        """Swap one target into request.output (tagged AI-altered), or raise an engines error."""

    # Restartable engines (servers the app launches) override these.
    @property
    def restartable(self) -> bool:
        return False

    def restart(self) -> bool:
        """Start (again) what this engine needs; True when it answers afterwards."""
        return False

    def close(self) -> None:
        """Stop whatever this adapter started."""
