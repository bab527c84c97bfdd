"""The resource allocator: footprints from file size × provider factor, refusals with a message
instead of a crash, and the memory strategy honoured by the runner's engine cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from app.engine_host import cache as engine_cache
from engines.allocator import GIB, MIB, MemoryBusy, MemoryReading, MemoryRefused, ResourceAllocator
from engines.base import LoadOptions
from engines.errors import TransientError
from engines.external.errors import EngineFailure
from engines.models.store import ModelStore
from standins.helpers import builtin_entry, write_integrations


def gpu(total_gib: float, free_gib: float):
    return lambda: MemoryReading("GPU 0 (Test GPU)", int(total_gib * GIB), int(free_gib * GIB))


def test_a_model_bigger_than_the_device_is_refused_with_the_numbers() -> None:
    allocator = ResourceAllocator(gpu=gpu(1, 1), reserve_bytes=256 * MIB)
    swapper = allocator.estimate("inswapper_128", "swapper", 529 * MIB, "CUDAExecutionProvider")
    detector = allocator.estimate("det_10g", "detector", 16 * MIB, "CUDAExecutionProvider")
    assert swapper.provider == "cuda" and swapper.bytes == int(529 * MIB * 2.5)
    with pytest.raises(MemoryRefused) as caught:
        allocator.admit("builtin", [detector, swapper])
    message = caught.value.one_line()
    assert isinstance(caught.value, EngineFailure) and not isinstance(caught.value, TransientError)
    assert message.startswith("builtin will not fit in GPU 0 (Test GPU): its models need ~1.3 GiB "
                              "(+256 MiB kept free) but it has 1.0 GiB in all")
    assert "swapper inswapper_128 ~1.3 GiB (529 MiB file × 2.5 on cuda)" in message
    assert "builtin-lite" in message  # the way out
    assert allocator.reservations() == []


def test_a_model_that_fits_the_device_but_not_its_free_memory_is_transient() -> None:
    allocator = ResourceAllocator(gpu=gpu(16, 1))
    swapper = allocator.estimate("inswapper_128", "swapper", 529 * MIB, "CUDAExecutionProvider")
    with pytest.raises(MemoryBusy, match=r"only 1.0 GiB of 16.0 GiB is free") as caught:
        allocator.admit("builtin", [swapper])
    assert isinstance(caught.value, TransientError) and "release_after_job" in caught.value.one_line()


def test_what_fits_is_admitted_once_and_released() -> None:
    allocator = ResourceAllocator(gpu=gpu(16, 12))
    swapper = allocator.estimate("inswapper_128", "swapper", 529 * MIB, "CUDAExecutionProvider")
    first = allocator.admit("builtin", [swapper])
    assert allocator.admit("builtin", [swapper]) is first and first.gpu_bytes == swapper.bytes
    allocator.release("builtin")
    assert allocator.reservations() == []


def test_an_unknown_reading_refuses_nothing() -> None:
    allocator = ResourceAllocator(gpu=lambda: None, host=None)
    huge = allocator.estimate("x", "swapper", 500 * GIB, "CUDAExecutionProvider")
    allocator.admit("builtin", [huge])  # no NVML: no guess, no refusal


def test_cpu_models_are_checked_against_system_ram() -> None:
    allocator = ResourceAllocator(host=lambda: MemoryReading("system RAM", 1 * GIB, 1 * GIB), reserve_bytes=0)
    model = allocator.estimate("inswapper_128", "swapper", 800 * MIB, "CPUExecutionProvider")
    assert model.factor == 1.5
    with pytest.raises(MemoryRefused, match="will not fit in system RAM"):
        allocator.admit("builtin-lite", [model])


def test_the_plan_matches_what_the_engine_loads(kit_dir) -> None:
    store = ModelStore.resolve(Path("."), kit_dir)
    footprints = ResourceAllocator().plan(store, LoadOptions(models_override=kit_dir, providers=("cpu",)))
    assert [f.role for f in footprints] == ["detector", "recognizer", "swapper"]
    for footprint in footprints:
        assert footprint.provider == "cpu" and footprint.file_bytes == store.path(footprint.model_id).stat().st_size
    with_enhancer = ResourceAllocator().plan(store, LoadOptions(models_override=kit_dir, load_enhancer=True))
    assert with_enhancer[-1].role == "enhancer"


def _swap(kit_dir: Path, out: Path) -> int:
    return main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples/target.png"), "-o", str(out)])


def test_a_job_is_refused_with_the_message_instead_of_crashing(kit_dir, tmp_path, monkeypatch, capsys) -> None:
    engine_cache.release_all()
    monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(write_integrations(tmp_path, {"builtin": builtin_entry()})))
    monkeypatch.setattr(engine_cache, "_host_reading", lambda: MemoryReading("system RAM", 64 * MIB, 64 * MIB))
    monkeypatch.setattr(engine_cache, "_allocator", None)  # rebuilt with the patched reading
    monkeypatch.setattr(engine_cache, "_manager", None)
    code = _swap(kit_dir, tmp_path / "o.png")
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("swapcast: error")]
    assert code != 0 and len(errors) == 1 and "builtin will not fit in system RAM" in errors[0]
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("strategy, stays_loaded", [("keep_loaded", True), ("release_after_job", False)])
def test_the_memory_strategy_is_honoured_after_each_job(kit_dir, tmp_path, monkeypatch, strategy, stays_loaded) -> None:
    engine_cache.release_all()
    path = write_integrations(tmp_path, {"builtin": builtin_entry()}, memoryStrategy=strategy)
    monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(path))
    assert _swap(kit_dir, tmp_path / "o.png") == 0
    assert (engine_cache.loaded_health("builtin") is not None) == stays_loaded
    assert bool(engine_cache.shared_allocator().reservations()) == stays_loaded
    engine_cache.release_all()
