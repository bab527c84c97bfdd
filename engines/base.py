"""The engine interface: what every face-swap engine (built-in or external) offers the app.

An engine turns BGR uint8 frames into swapped frames. Everything it needs to know about *what*
to swap (source identities, which target faces) travels in a `SwapContext`, so changing the source
face or the selection policy never reloads a model.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.errors import InputError

Frame = np.ndarray  # H×W×3 BGR uint8
ProgressFn = Callable[[str, float], None]  # (message, fraction 0..1)


class Capability(str, enum.Enum):
    LIVE = "live"
    IMAGE = "image"
    VIDEO = "video"
    ENHANCE = "enhance"
    BATCH = "batch"
    LIP_SYNC = "lip_sync"


class HealthState(str, enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class UnknownFaceSelection(InputError, ValueError):
    """A face mode that is not one of FaceSelection's values (or not offered where it was asked for)."""


class FaceSelection(str, enum.Enum):
    """Which faces of a frame get swapped: the one list of modes for the CLI, jobs, live and the GUI."""

    LARGEST = "largest"  # the biggest face in the frame
    ALL = "all"  # every face gets the active identity
    POSITION = "position"  # the N-th face counted left to right
    REFERENCE = "reference"  # faces that look like a reference face
    MAPPING = "mapping"  # reference A -> source X, reference B -> source Y

    def __str__(self) -> str:  # f-strings, tables and argparse print "all", not "FaceSelection.ALL"
        return self.value

    @classmethod
    def parse(cls, value: object, allowed: Iterable[FaceSelection] | None = None) -> FaceSelection:
        """`value` as a member of `allowed` (default: every mode); UnknownFaceSelection naming the
        valid values otherwise. Nothing silently falls back to "largest"."""
        choices = tuple(allowed) if allowed is not None else tuple(cls)
        for choice in choices:
            if value == choice.value:
                return choice
        raise UnknownFaceSelection(f"unknown face mode {str(value)!r}",
                                   f"use one of {', '.join(choice.value for choice in choices)}")


# What each front end offers. Offline jobs go through every engine (external ones too), which can all
# do these three; live mode runs the built-in engine, which can also pick a face by position.
OFFLINE_FACE_SELECTIONS: tuple[FaceSelection, ...] = (FaceSelection.LARGEST, FaceSelection.ALL, FaceSelection.REFERENCE)
LIVE_FACE_SELECTIONS: tuple[FaceSelection, ...] = (FaceSelection.LARGEST, FaceSelection.ALL, FaceSelection.POSITION,
                                                   FaceSelection.REFERENCE)

FRAMES_WITHOUT_FACE = "frames_without_face"  # SwapContext counter: frames in which nothing was swapped


@dataclass(frozen=True)
class Identity:
    """A person to swap in: one embedding averaged over one or more photos."""

    name: str
    embedding: np.ndarray  # (512,) float32, L2-normalised
    sources: tuple[str, ...] = ()
    faces_in_sources: tuple[int, ...] = ()  # how many faces each source photo held


@dataclass(frozen=True)
class FaceMapping:
    reference: Identity  # who to look for in the target
    source: Identity  # who to put there


@dataclass(frozen=True)
class LipSyncFrame:
    """The audio of one frame for the lip-sync stage: its mel window and how strongly to apply it."""

    mel: np.ndarray  # (80, 16) float32 −4..4: engines.builtin.lipsync.mel.mel_window / MelStream.window_at
    weight: float = 1.0  # 0 = the mouth untouched, 1 = fully redrawn


@dataclass
class SwapContext:
    """What to swap, for one stream of frames (a live session or one job).

    Mutable on purpose: the live controls flip fields while frames flow. Per-stream state
    (keypoint smoothing) lives here too, so one engine can serve several streams at once.
    """

    identities: list[Identity] = field(default_factory=list)
    active: int = 0
    selection: FaceSelection = FaceSelection.LARGEST
    position: int = 0
    references: list[Identity] = field(default_factory=list)
    mappings: list[FaceMapping] = field(default_factory=list)
    reference_threshold: float = 0.5  # cosine similarity a target face needs to match a reference
    enhance: bool = False
    enhance_blend: float = 0.8
    mouth_mask: bool = False
    color_correction: float = 0.0  # 0 = off, 1 = full match of the target's skin colour
    smoothing: bool = False  # temporal keypoint smoothing (video / live)
    bypass: bool = False
    # Live streams pass a frame through when a model fails ("pass"); offline jobs must not write
    # unswapped frames silently, so they ask for the error ("raise").
    on_error: str = "pass"
    # The caller hands the frames over (decoded video, captured camera frames): paste into them
    # directly instead of copying each frame first (a 1080p copy costs about 1 ms).
    in_place: bool = False
    timestamp: float | None = None  # capture time of the frame being processed (for smoothing)
    stream_state: dict[str, object] = field(default_factory=dict, repr=False)
    # Lip sync, after swap and enhance on the same detections; set per frame by the caller.
    lip_sync: LipSyncFrame | None = None
    lip_sync_batch: Sequence[LipSyncFrame] | None = None  # one per frame of a process_batch call; wins
    swap_faces: bool = True  # False: lip sync only, no source identity needed

    def count(self, key: str, amount: int = 1) -> None:
        """Per-stream counters the engine keeps (e.g. frames in which no face was swapped)."""
        self.stream_state[key] = int(self.stream_state.get(key, 0)) + amount  # type: ignore[arg-type]

    @property
    def active_identity(self) -> Identity | None:
        if not self.identities:
            return None
        return self.identities[self.active % len(self.identities)]


@dataclass(frozen=True)
class ModelHealth:
    model_id: str
    role: str
    loaded: bool
    provider: str  # the provider the session really runs on, e.g. "CUDAExecutionProvider"
    requested: tuple[str, ...] = ()
    fallback_reason: str | None = None  # why it is not on the first provider asked for
    healthy: bool = True
    note: str | None = None


@dataclass(frozen=True)
class EngineHealth:
    state: HealthState
    models: tuple[ModelHealth, ...] = ()
    last_error: str | None = None
    errors: int = 0
    frames: int = 0
    stages_ms: dict[str, float] = field(default_factory=dict)  # recent mean per stage

    @property
    def provider_summary(self) -> str:
        return ", ".join(f"{m.role}: {m.provider}" for m in self.models) or "not loaded"


@dataclass(frozen=True)
class LoadOptions:
    models_dir: Path | None = None  # catalog folder
    models_override: Path | None = None  # --models DIR (a manifest)
    providers: tuple[str, ...] = ("auto",)  # "auto" = best available: CUDA → TensorRT → DML/CoreML → CPU
    det_size: int = 640
    det_threshold: float = 0.5
    swapper_precision: str = "auto"  # "auto" (fp16 on a GPU, fp32 on the CPU) | "fp32" | "fp16"
    swapper_id: str | None = None  # a specific swapper model (e.g. an architecture-class one)
    detector_id: str | None = None
    # (role, model id) a profile prefers (the lite profile's small models): used where the models
    # folder has them, the role's default otherwise (engines.models.preference).
    preferred_models: tuple[tuple[str, str], ...] = ()
    load_enhancer: bool = False
    load_lip_syncer: bool = False  # else loaded on the first frame that asks for lip sync
    lip_syncer_id: str | None = None  # a specific lip_syncer model (default: the catalog's)
    # False: the detector (and lip syncer) only, for lip-sync-only runs that never swap: no
    # recognizer or swapper file needed (reference face modes then cannot be used).
    load_swapper: bool = True
    threads: int = 0  # 0 = onnxruntime's default
    tensorrt_cache: Path | None = None
    warmup: bool = True


class Engine(ABC):
    name: str = "engine"
    capabilities: frozenset[Capability] = frozenset()

    @abstractmethod
    def load(self, options: LoadOptions, progress: ProgressFn | None = None) -> None: ...

    @abstractmethod
    def health(self) -> EngineHealth: ...

    def identity(self, paths: Sequence[Path], name: str | None = None, face_index: int | None = None) -> Identity:
        """The person in these source photos (face `face_index`, else the largest of each photo).

        Engines that recognise faces override this; the others cannot take source photos."""
        raise InputError(f"the {self.name} engine cannot recognise source photos", "use the built-in engine")

    @abstractmethod
    def process(self, frame: Frame, context: SwapContext) -> Frame:
        """Swap the faces of one frame. Never raises for a model error: returns the frame unchanged."""

    def process_batch(self, frames: Sequence[Frame], context: SwapContext) -> list[Frame]:
        return [self.process(frame, context) for frame in frames]

    @abstractmethod
    def release(self) -> None: ...
