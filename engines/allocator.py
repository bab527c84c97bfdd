"""Refuse to load models that will not fit, with a message, instead of crashing mid-load.

A model's footprint is estimated from its file: weights, plus activations, workspace and the
runtime's arenas, as a factor per provider (resources/integrations.json "allocator"). The reading of
free memory is injected (engines/ must not import app/; app/monitor/gpu.py reads NVML): None means
"unknown", and nothing is refused on a guess.

Two refusals, because the queue treats them differently:
- MemoryRefused: more than the device has in all. Retrying cannot help; another engine might.
- MemoryBusy: fits the device but not what is free now (another program holds it). Transient.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engines.base import LoadOptions
from engines.errors import TransientError
from engines.external.errors import EngineFailure

if TYPE_CHECKING:
    from engines.models.store import ModelStore

GIB = 1024**3
MIB = 1024**2

DEFAULT_FACTORS: dict[str, float] = {"cpu": 1.5, "cuda": 2.5, "tensorrt": 3.0, "directml": 2.5, "coreml": 2.0}

# onnxruntime provider names → the factor keys.
_PROVIDER_KEYS = {
    "CPUExecutionProvider": "cpu",
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "tensorrt",
    "DmlExecutionProvider": "directml",
    "CoreMLExecutionProvider": "coreml",
}


@dataclass(frozen=True)
class MemoryReading:
    device: str  # "GPU 0 (NVIDIA H100 80GB HBM3)", "system RAM"
    total: int  # bytes
    free: int  # bytes


MemoryReader = Callable[[], "MemoryReading | None"]


@dataclass(frozen=True)
class ModelFootprint:
    model_id: str
    role: str
    file_bytes: int
    provider: str  # factor key: cpu, cuda, tensorrt...
    factor: float

    @property
    def bytes(self) -> int:
        return int(self.file_bytes * self.factor)

    @property
    def on_gpu(self) -> bool:
        return self.provider != "cpu"

    def describe(self) -> str:
        return f"{self.role} {self.model_id} ~{_size(self.bytes)} ({_size(self.file_bytes)} file × {self.factor:g} on {self.provider})"


@dataclass(frozen=True)
class Reservation:
    owner: str
    footprints: tuple[ModelFootprint, ...]

    @property
    def gpu_bytes(self) -> int:
        return sum(f.bytes for f in self.footprints if f.on_gpu)

    @property
    def host_bytes(self) -> int:
        return sum(f.bytes for f in self.footprints if not f.on_gpu)


class MemoryRefused(EngineFailure):
    """The models need more memory than the device has in all."""


class MemoryBusy(TransientError):
    """The models fit the device, but not the memory free right now."""


def _size(count: int) -> str:
    if count >= GIB:
        return f"{count / GIB:.1f} GiB"
    return f"{count / MIB:.0f} MiB" if count >= MIB else f"{count / 1024:.0f} KiB"


def provider_key(provider: str) -> str:
    return _PROVIDER_KEYS.get(provider, provider.lower().removesuffix("executionprovider"))


@dataclass
class ResourceAllocator:
    gpu: MemoryReader | None = None
    host: MemoryReader | None = None
    factors: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FACTORS))
    reserve_bytes: int = 512 * MIB

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._reservations: dict[str, Reservation] = {}

    def estimate(self, model_id: str, role: str, file_bytes: int, provider: str) -> ModelFootprint:
        key = provider_key(provider)
        return ModelFootprint(model_id, role, int(file_bytes), key, float(self.factors.get(key, 2.5)))

    def plan(self, store: ModelStore, options: LoadOptions) -> list[ModelFootprint]:
        """The models BuiltinEngine.load(options) will load, and what each will take."""
        from engines.builtin.engine import BuiltinEngine
        from engines.builtin.runtime.sessions import resolve_providers
        from engines.models.preference import preferred_model

        provider = resolve_providers(options.providers)[0]
        wanted = [("detector", options.detector_id or preferred_model(store, "detector", options.preferred_models))]
        if options.load_swapper:
            wanted += [
                ("recognizer", preferred_model(store, "recognizer", options.preferred_models)),
                # The engine's own choice of swapper file (fp16 on a GPU), so the estimate matches the load.
                ("swapper", BuiltinEngine._swapper_id(store, options)),
            ]
        if options.load_enhancer:
            wanted.append(("enhancer", store.default_for("enhancer").id))
        if options.load_lip_syncer:
            wanted.append(("lip_syncer", options.lip_syncer_id
                           or preferred_model(store, "lip_syncer", options.preferred_models)))
        footprints = []
        for role, model_id in wanted:
            path = Path(store.path(model_id))
            size = path.stat().st_size if path.is_file() else (store.spec(model_id).size or 0)
            footprints.append(self.estimate(model_id, role, size, provider))
        return footprints

    def check(self, owner: str, footprints: Sequence[ModelFootprint]) -> None:
        """Raise MemoryRefused / MemoryBusy when the footprints will not fit; return when they will.

        `owner` names the engine in the message (e.g. "builtin-lite")."""
        for on_gpu, reader in ((True, self.gpu), (False, self.host)):
            chosen = [f for f in footprints if f.on_gpu == on_gpu]
            if not chosen or reader is None:
                continue
            reading = reader()
            if reading is None:
                continue  # unknown: do not refuse on a guess
            need = sum(f.bytes for f in chosen)
            parts = ", ".join(f.describe() for f in sorted(chosen, key=lambda f: -f.bytes))
            if need + self.reserve_bytes > reading.total:
                raise MemoryRefused(
                    f"{owner} will not fit in {reading.device}: its models need ~{_size(need)} "
                    f"(+{_size(self.reserve_bytes)} kept free) but it has {_size(reading.total)} in all — {parts}",
                    "use a smaller profile (builtin-lite, fp16 swapper) or run on a device with more memory")
            if need + self.reserve_bytes > reading.free:
                raise MemoryBusy(
                    f"{owner} does not fit in {reading.device} now: its models need ~{_size(need)} "
                    f"(+{_size(self.reserve_bytes)} kept free) but only {_size(reading.free)} of "
                    f"{_size(reading.total)} is free — {parts}",
                    "close other programs using it, or set memoryStrategy to release_after_job; the job will be retried")

    def admit(self, owner: str, footprints: Sequence[ModelFootprint], label: str | None = None) -> Reservation:
        """Check, then remember what `owner` holds (until release). Admitting twice is a no-op.

        `label` names the engine in messages when `owner` is a key (one engine, several profiles)."""
        with self._lock:
            if owner in self._reservations:
                return self._reservations[owner]
            self.check(label or owner, footprints)
            reservation = Reservation(owner, tuple(footprints))
            self._reservations[owner] = reservation
            return reservation

    def release(self, owner: str) -> None:
        with self._lock:
            self._reservations.pop(owner, None)

    def reservations(self) -> list[Reservation]:
        with self._lock:
            return list(self._reservations.values())
