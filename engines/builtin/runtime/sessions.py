"""onnxruntime sessions: provider choice, GPU options, warm-up, and which provider really runs.

Peers' users' first complaint is a silent fallback to the CPU. So every session records the
providers asked for, the one it really got, and why it fell back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
DIRECTML = "DmlExecutionProvider"
COREML = "CoreMLExecutionProvider"
CPU = "CPUExecutionProvider"

# Best first. TensorRT after CUDA: its engine build takes minutes on first use, so it is opt-in.
AUTO_ORDER: tuple[str, ...] = (CUDA, DIRECTML, COREML, CPU)
ALIASES = {"cuda": CUDA, "tensorrt": TENSORRT, "trt": TENSORRT, "directml": DIRECTML, "dml": DIRECTML,
           "coreml": COREML, "cpu": CPU}


@dataclass(frozen=True)
class SessionInfo:
    path: Path
    requested: tuple[str, ...]
    provider: str  # what the session really runs on
    fallback_reason: str | None


def resolve_providers(wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Turn user wishes ("auto", "cuda", "cpu"...) into the providers this onnxruntime build has."""
    available = set(ort.get_available_providers())
    chosen: list[str] = []
    for item in wanted:
        name = ALIASES.get(item.lower(), item)
        # TensorRT is opt-in (its first engine build takes minutes); CUDA stays behind it for the
        # nodes TensorRT does not take.
        names = AUTO_ORDER if item == "auto" else (TENSORRT, CUDA) if name == TENSORRT else (name,)
        for name in names:
            if name in available and name not in chosen:
                chosen.append(name)
    if CPU not in chosen:
        chosen.append(CPU)  # always a last resort, so a model still runs
    return tuple(chosen)


def _provider_options(name: str, tensorrt_cache: Path | None, model_sha256: str | None) -> dict[str, str]:
    if name == CUDA:
        # Exhaustive cuDNN search pays once at warm-up for faster convolutions every frame.
        return {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}
    if name == TENSORRT:
        options = {"trt_fp16_enable": "1"}
        if tensorrt_cache is not None:
            # TensorRT's engine cache is keyed on the graph's structure (and the file's name, when
            # opened by path), never on its weights: two models of one architecture would share an
            # engine, and a model given as bytes has no name at all. One folder per verified hash
            # keys it on the weights. Timings depend on layers only: one shared cache.
            engines = tensorrt_cache / model_sha256[:16] if model_sha256 else tensorrt_cache
            engines.mkdir(parents=True, exist_ok=True)
            options.update({"trt_engine_cache_enable": "1", "trt_engine_cache_path": str(engines),
                            "trt_timing_cache_enable": "1", "trt_timing_cache_path": str(tensorrt_cache)})
        return options
    return {}


def session_options(threads: int = 0) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # onnxruntime's warnings are noise to a user; we report fallbacks ourselves
    if threads > 0:
        options.intra_op_num_threads = threads
    # onnxruntime's idle workers spin for a while after each run; on a few cores that steals the CPU
    # from the warps and blends that run right after inference.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


_preloaded = False


def _preload_gpu_libraries() -> None:
    """onnxruntime-gpu[cuda,cudnn] ships CUDA/cuDNN as wheels; load them before the first GPU session."""
    global _preloaded
    if not _preloaded and hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception as error:  # noqa: BLE001 — the session's own fallback reason says the rest
            log.warning("could not preload CUDA libraries: %s", error)
    _preloaded = True


def create_session(path: Path, providers: tuple[str, ...], threads: int = 0,
                   tensorrt_cache: Path | None = None, *, model_bytes: bytes | None = None,
                   model_sha256: str | None = None) -> tuple[ort.InferenceSession, SessionInfo]:
    """One session per model; onnxruntime's `run` is thread-safe, so threads share it.

    `model_bytes`: the model as its hash check read it (ModelStore.open_verified); onnxruntime parses
    these, not the file at `path` (which names it in messages), so a file replaced since the check
    never runs. `model_sha256` keys the TensorRT engine cache."""
    requested = resolve_providers(providers)
    if requested[0] in (CUDA, TENSORRT):
        _preload_gpu_libraries()
    provider_list = [(name, _provider_options(name, tensorrt_cache, model_sha256)) for name in requested]
    source = model_bytes if model_bytes is not None else str(path)
    session = ort.InferenceSession(source, sess_options=session_options(threads), providers=provider_list)
    actual = session.get_providers()[0]
    reason = None
    if actual != requested[0]:
        reason = (f"{requested[0]} failed to load (missing CUDA/cuDNN libraries or an unsupported GPU?); "
                  f"running on {actual}")
        log.warning("%s: %s", path.name, reason)
    elif wanted_gpu(providers) and actual == CPU:
        reason = "no GPU provider in this onnxruntime build — run ./setup_virtual_env.sh --gpu"
    return session, SessionInfo(path=path, requested=requested, provider=actual, fallback_reason=reason)


def wanted_gpu(providers: tuple[str, ...]) -> bool:
    return any(ALIASES.get(p.lower(), p) in (CUDA, TENSORRT, DIRECTML) for p in providers)
