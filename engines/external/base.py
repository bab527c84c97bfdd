"""What the manager asks of every engine adapter: check the install, run one target, report progress.

External engines work on files (a source photo, a target, an output path), so the manager speaks
to every engine at this level: one target in, one tagged output file out. The built-in engine is a
frame-level `engines.base.Engine`; its adapter (inprocess.py) turns a request into frames and back.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engines.base import OFFLINE_FACE_SELECTIONS, FaceSelection
from engines.video_fit import DEFAULT_STILL_FPS, VideoFit

from .config import EngineConfig, Mode

ProgressCallback = Callable[[int, int], None]  # (frames done, frames total) of this target; may raise to stop


@dataclass(frozen=True)
class SwapRequest:
    """One target of a job, with the options that matter to an engine."""

    sources: tuple[Path, ...]
    target: Path
    output: Path  # the final file; adapters write beside it and rename at the end
    mode: Mode
    faces: FaceSelection = FaceSelection.LARGEST  # one of OFFLINE_FACE_SELECTIONS
    reference: Path | None = None
    source_face: int | None = None
    enhance: bool = False
    enhance_blend: float = 0.8  # 0..1: how much of the enhanced face is kept (in-process engines)
    trim: tuple[float, float] | None = None  # seconds
    quality: int | None = None  # 0..100, higher is better
    encoder: str = "auto"
    audio: bool = True
    overwrite: bool = False
    models: str | None = None  # --models DIR of the job (in-process engines)
    frames_hint: int = 0  # frames the app expects (0: unknown), for progress before the engine says
    # Lip sync: the mouths follow this audio file, which also becomes the output's sound (its length
    # the output's, see VideoFit); the target may then be a photo, and with no sources nothing is swapped.
    lip_sync: Path | None = None
    lip_sync_weight: float = 1.0  # 0..1: how much of the lip syncer's mouth is blended in
    fit: VideoFit = VideoFit.LOOP
    still_fps: float = DEFAULT_STILL_FPS  # frame rate of the video a photo target becomes

    def __post_init__(self) -> None:
        # A mode no engine offers is refused here, never read as "largest" further down.
        object.__setattr__(self, "faces", FaceSelection.parse(self.faces, OFFLINE_FACE_SELECTIONS))
        object.__setattr__(self, "fit", VideoFit.parse(self.fit))

    @property
    def swap_faces(self) -> bool:
        """False for a lip-sync-only request (no source photos): the faces keep who they are."""
        return bool(self.sources)


def lip_sync_refusal(request: SwapRequest) -> str | None:
    """What an adapter without a lip-sync stage says in unsupported() (only the built-in engine has one)."""
    return "it has no lip-sync stage (the built-in engine has)" if request.lip_sync is not None else None


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
    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
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
