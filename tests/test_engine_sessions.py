"""Provider choice: what the user asks for maps onto what this onnxruntime build really has."""

from __future__ import annotations

import onnxruntime as ort

from engines.builtin.runtime.sessions import CPU, CUDA, TENSORRT, resolve_providers, wanted_gpu


def test_auto_ends_with_the_cpu_and_only_names_available_providers() -> None:
    chosen = resolve_providers(("auto",))
    assert chosen[-1] == CPU
    assert set(chosen) <= set(ort.get_available_providers()) | {CPU}


def test_cuda_asked_on_a_cpu_build_still_runs_on_the_cpu() -> None:
    if CUDA in ort.get_available_providers():
        assert resolve_providers(("cuda",))[0] == CUDA
    else:
        assert resolve_providers(("cuda",)) == (CPU,)
    assert wanted_gpu(("cuda",)) and not wanted_gpu(("cpu",))


def test_tensorrt_keeps_cuda_behind_it(monkeypatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
    assert resolve_providers(("tensorrt",)) == (TENSORRT, CUDA, CPU)
    assert resolve_providers(("auto",)) == (CUDA, CPU)


def test_asking_for_a_gpu_on_a_cpu_build_is_reported_with_the_reason(kit_dir) -> None:
    from engines.base import LoadOptions
    from engines.builtin.engine import BuiltinEngine
    from engines.models.store import ModelStore

    if CUDA in ort.get_available_providers():
        return  # a GPU build: nothing falls back
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions(providers=("cuda",), warmup=False))
    for model in engine.health().models:
        assert model.provider == CPU
        assert "setup_virtual_env.sh --gpu" in (model.fallback_reason or "")
