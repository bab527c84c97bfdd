"""Loaded engines, the engine manager and the memory allocator, shared by everything in a process
(offline jobs, the live session, the studio).

Loading costs seconds with real models; onnxruntime sessions are thread-safe and all per-stream
state lives in the SwapContext, so jobs share a loaded engine (one per models folder and profile)
instead of reloading it. Before a load, the allocator checks that the models fit (GPU memory from
NVML, RAM from psutil) and refuses with a message instead of crashing. With the memory strategy
"release_after_job" the runner releases everything when a job ends.

The manager is rebuilt when the engine settings file (settings.py finds it) changes. It gets an
InProcessRuntime (AppRuntime below) so the built-in engine runs offline targets like any engine.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from engines.allocator import MemoryReading, ResourceAllocator
from engines.base import Engine, EngineHealth, LoadOptions
from engines.external.base import ProgressCallback, SwapRequest
from engines.external.config import IntegrationsConfig, load_integrations
from engines.external.inprocess import InProcessAdapter, TimedBatchFn, VideoOutcome
from engines.manager import EngineManager

from app.models_option import models_folder
from app.paths import user_paths

from .settings import integrations_path

MIB = 1024**2

_EngineKey = tuple[str, tuple[object, ...]]

_engines: dict[_EngineKey, Engine] = {}
_owners: dict[_EngineKey, str] = {}  # which engine entry (builtin, builtin-lite) loaded it
_lock = threading.RLock()
_manager: tuple[tuple[str, int, int], EngineManager] | None = None
_allocator: ResourceAllocator | None = None


# ---- settings and manager ----------------------------------------------------------------------
def shared_manager() -> EngineManager:
    """The process's manager for the current settings file (rebuilt when the file changes)."""
    global _manager
    path = integrations_path()
    try:
        stat = path.stat()
        stamp = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (str(path), 0, 0)  # load_integrations says what is wrong with it
    with _lock:
        if _manager is None or _manager[0] != stamp:
            manager = EngineManager(load_integrations(path), runtime=AppRuntime())
            if _manager is not None:
                _manager[1].close()
            _manager = (stamp, manager)
            _configure_allocator(manager.config)
        return _manager[1]


# ---- memory ------------------------------------------------------------------------------------
def _gpu_reading() -> MemoryReading | None:
    from app.monitor.gpu import read_gpus

    report = read_gpus()
    if not report.gpus:
        return None
    gpu = report.gpus[0]  # onnxruntime's CUDA provider uses device 0 unless told otherwise
    return MemoryReading(f"GPU {gpu.index} ({gpu.name})", gpu.memory_total, gpu.memory_free)


def _host_reading() -> MemoryReading | None:
    import psutil

    memory = psutil.virtual_memory()
    return MemoryReading("system RAM", int(memory.total), int(memory.available))


def shared_allocator() -> ResourceAllocator:
    global _allocator
    with _lock:
        if _allocator is None:
            _allocator = ResourceAllocator(gpu=_gpu_reading, host=_host_reading)
        return _allocator


def _configure_allocator(config: IntegrationsConfig) -> None:
    allocator = shared_allocator()
    allocator.factors = dict(config.allocator.factors)
    allocator.reserve_bytes = config.allocator.reserve_mib * MIB


# ---- engines -----------------------------------------------------------------------------------
def base_options(models: str | None) -> LoadOptions:
    return LoadOptions(models_dir=user_paths().models, models_override=models_folder(models),
                       tensorrt_cache=user_paths().cache / "tensorrt")


def _key(models: str | None, options: LoadOptions) -> _EngineKey:
    override = models_folder(models)
    folder = str(override.resolve()) if override else ""
    # Paths are part of `folder`; the rest of the options decide what gets loaded and how.
    tuning = tuple(value for name, value in sorted(dataclasses.asdict(options).items())
                   if name not in ("models_dir", "models_override", "tensorrt_cache"))
    return folder, tuning


def shared_engine(models: str | None, options: LoadOptions | None = None, owner: str = "builtin",
                  adapter: InProcessAdapter | None = None) -> Engine:
    """The loaded engine for a models folder and a profile's options; loads it (memory permitting).
    `adapter` makes it (default: the built-in engine's)."""
    options = options or base_options(models)
    key = _key(models, options)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            allocator = shared_allocator()
            token = f"{owner}:{hash(key)}"
            from engines.models.store import ModelStore

            store = ModelStore.resolve(options.models_dir or user_paths().models, options.models_override)
            allocator.admit(token, allocator.plan(store, options), label=owner)  # MemoryRefused / MemoryBusy
            engine = adapter.create_engine() if adapter is not None else _builtin_engine()
            try:
                engine.load(options)
            except BaseException:
                allocator.release(token)
                raise
            _engines[key] = engine
            _owners[key] = owner
        return engine


def _builtin_engine() -> Engine:
    from engines.builtin.engine import BuiltinEngine

    return BuiltinEngine()


def live_engine(models: str | None, *, swap: bool = True) -> tuple[str, Engine]:
    """The engine for live mode: the best in-process entry of integrations.json (builtin, or the
    lite profile when it is preferred), loaded with its profile. (name, engine). `swap=False`: lip
    sync only (an avatar without source faces): no recognizer or swapper is loaded, or needed."""
    adapter = shared_manager().live_adapter()
    options = _for_swapping(adapter.load_options(base_options(models)), swap)
    return adapter.name, shared_engine(models, options, owner=adapter.name, adapter=adapter)


def _for_swapping(options: LoadOptions, swap: bool) -> LoadOptions:
    """The options as given, or (lip sync only) the detector and the lip syncer without the models
    that swap: a user who only lip-syncs never has to download them."""
    return options if swap else dataclasses.replace(options, load_swapper=False, load_lip_syncer=True)


class AppRuntime:
    """engines.external.inprocess.InProcessRuntime: the shared engine cache and app/media's video pipeline."""

    def engine(self, adapter: InProcessAdapter, models: str | None, *, swap: bool = True) -> Engine:
        options = _for_swapping(adapter.load_options(base_options(models)), swap)
        return shared_engine(models, options, owner=adapter.name, adapter=adapter)

    def transcode(self, request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
        from .video import swap_video  # PyAV loads only when a video is swapped

        return swap_video(request, process, progress)

    def lip_sync_video(self, request: SwapRequest, process: TimedBatchFn, progress: ProgressCallback) -> VideoOutcome:
        from .video import lip_sync_video

        return lip_sync_video(request, process, progress)

    def speech(self, request: SwapRequest) -> np.ndarray:
        from .video import speech_samples

        return speech_samples(request)


def loaded_health(owner: str) -> EngineHealth | None:
    """Health of the engine `owner` (an integrations entry) loaded in this process, if any."""
    with _lock:
        for key, name in _owners.items():
            if name == owner and key in _engines:
                return _engines[key].health()
    return None


def release_all() -> None:
    """Unload every engine and forget their memory reservations (memory strategy, shutdown)."""
    with _lock:
        allocator = shared_allocator()
        for key, engine in _engines.items():
            engine.release()
            allocator.release(f"{_owners.get(key, 'builtin')}:{hash(key)}")
        _engines.clear()
        _owners.clear()
