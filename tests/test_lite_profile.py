"""The lite engine profile runs the small buffalo_s models (SCRFD-500M, MobileFaceNet) where they are
downloaded, and the default models otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engines.base import LoadOptions
from engines.builtin.engine import BuiltinEngine
from engines.external.config import load_integrations
from engines.external.inprocess import InProcessAdapter
from engines.models.catalog import ModelSpec, load_catalog
from engines.models.preference import preferred_model
from engines.models.store import ModelStore, default_catalog_path
from engines.testing.manifest import MANIFEST_NAME

BUFFALO_S = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip"
W600K_MBF_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"


def _lite_options(base: LoadOptions = LoadOptions()) -> LoadOptions:
    lite = load_integrations().engine("builtin-lite")
    return InProcessAdapter(lite).load_options(base)


def test_lite_profile_resolves_to_the_buffalo_s_catalog_entries() -> None:
    options = _lite_options()
    preferred = dict(options.preferred_models)
    assert preferred == {"detector": "det_500m", "recognizer": "w600k_mbf"}
    catalog = {spec.id: spec for spec in load_catalog(default_catalog_path())}
    for role, model_id in preferred.items():
        spec = catalog[model_id]
        assert spec.role == role and not spec.default  # the full engine keeps det_10g / w600k_r50
        assert spec.archive is not None and spec.archive.urls == (BUFFALO_S,)
        assert spec.archive.member == spec.file
    assert catalog["w600k_mbf"].sha256 == W600K_MBF_SHA256 and catalog["w600k_mbf"].size == 13616099
    # No hash could be checked for buffalo_s's det_500m.onnx: the entry says so instead of guessing.
    assert catalog["det_500m"].sha256 is None and "verified" in (catalog["det_500m"].sha256_note or "")
    # The full engine's profile prefers nothing: it loads the defaults.
    assert InProcessAdapter(load_integrations().engine("builtin")).load_options(LoadOptions()).preferred_models == ()


def test_preferred_models_are_used_only_where_downloaded(tmp_path: Path) -> None:
    store = ModelStore.from_catalog(tmp_path)
    preferences = _lite_options().preferred_models
    assert preferred_model(store, "detector", preferences) == "det_10g"  # nothing downloaded yet
    (tmp_path / "det_500m.onnx").write_bytes(b"placed by hand")
    assert preferred_model(store, "detector", preferences) == "det_500m"
    assert preferred_model(store, "recognizer", preferences) == "w600k_r50"
    assert preferred_model(store, "swapper", preferences) == "inswapper_128"


def _store_with_lite_copies(kit_dir: Path, directory: Path) -> ModelStore:
    """The kit, plus its detector and recognizer listed again as det_500m and w600k_mbf."""
    specs = load_catalog(kit_dir / MANIFEST_NAME)
    extra: list[ModelSpec] = []
    for spec in specs:
        shutil.copyfile(kit_dir / spec.file, directory / spec.file)
        lite_id = {"detector": "det_500m", "recognizer": "w600k_mbf"}.get(spec.role)
        if lite_id:
            shutil.copyfile(kit_dir / spec.file, directory / f"{lite_id}.onnx")
            extra.append(ModelSpec(id=lite_id, role=spec.role, file=f"{lite_id}.onnx", urls=(), sha256=spec.sha256,
                                   size=spec.size, license=spec.license, default=False))
    return ModelStore(directory, specs + extra, source=kit_dir / MANIFEST_NAME)


@pytest.mark.parametrize("engine_name, expected", [
    ("builtin-lite", {"detector": "det_500m", "recognizer": "w600k_mbf"}),
    ("builtin", {"detector": "det_10g", "recognizer": "w600k_r50"}),
])
def test_the_loaded_engine_runs_the_models_its_profile_picks(kit_dir, tmp_path, engine_name, expected) -> None:
    adapter = InProcessAdapter(load_integrations().engine(engine_name))
    engine = BuiltinEngine(store=_store_with_lite_copies(kit_dir, tmp_path))
    engine.load(adapter.load_options(LoadOptions(warmup=False)))
    loaded = {model.role: model.model_id for model in engine.health().models}
    assert {role: loaded[role] for role in expected} == expected


def test_the_memory_plan_counts_the_models_the_profile_loads(kit_dir, tmp_path) -> None:
    """The allocator admits the lite engine on what it will really load, not on the large defaults."""
    from engines.allocator import ResourceAllocator

    store = _store_with_lite_copies(kit_dir, tmp_path)
    plan = ResourceAllocator().plan(store, _lite_options(LoadOptions(warmup=False)))
    assert {f.role: f.model_id for f in plan if f.role in ("detector", "recognizer")} == {
        "detector": "det_500m", "recognizer": "w600k_mbf"}


def test_a_kit_without_the_small_models_still_loads_the_lite_engine(kit_dir) -> None:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(_lite_options(LoadOptions(warmup=False)))
    loaded = {model.role: model.model_id for model in engine.health().models}
    assert loaded["detector"] == "det_10g" and loaded["recognizer"] == "w600k_r50"
