"""A one-line description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

import onnxruntime as ort


def provider_warnings(health) -> list[str]:  # health: engines.base.EngineHealth
    """One line per model that did not get the provider asked for: a CPU fallback must be loud."""
    return [f"warning: {m.role} runs on {m.provider}: {m.fallback_reason}" for m in health.models if m.fallback_reason]


def load_engine(store, options, log: Callable[[str], None]):  # (ModelStore, LoadOptions) -> BuiltinEngine
    """The built-in engine a benchmark times, loaded; a provider it did not get is logged loudly."""
    from engines.builtin.engine import BuiltinEngine

    engine = BuiltinEngine(store=store)
    engine.load(options)
    for line in provider_warnings(engine.health()):
        log(line)
    return engine


def describe_device() -> str:
    from app.monitor.gpu import read_gpus

    gpus = read_gpus().gpus
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    gpu = f", GPU {gpus[0].name}" if gpus else ", no GPU"
    return f"{cpu} ({cores} cores){gpu}; onnxruntime {ort.__version__} {ort.get_device()}"
