"""One loaded engine per models folder, shared by the jobs (and worker threads) of a process.

Loading costs seconds with real models; onnxruntime sessions are thread-safe and all per-stream
state lives in the SwapContext, so jobs share the engine instead of reloading it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from engines.base import LoadOptions
from engines.builtin.engine import BuiltinEngine

from app.paths import MODELS_ENV, user_paths

_engines: dict[str, BuiltinEngine] = {}
_lock = threading.Lock()


def shared_engine(models: str | None) -> BuiltinEngine:
    override = models or os.environ.get(MODELS_ENV) or None
    key = str(Path(override).resolve()) if override else ""
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = BuiltinEngine()
            engine.load(LoadOptions(models_dir=user_paths().models,
                                    models_override=Path(override) if override else None,
                                    tensorrt_cache=user_paths().cache / "tensorrt"))
            _engines[key] = engine
        return engine


def release_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.release()
        _engines.clear()
