"""ModelStore over a --models folder (a manifest) and over the user's models folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from engines.errors import ModelError
from engines.models import ModelStore

DATA = b"tiny generated model bytes"


def _kit(tmp_path: Path, sha256: str | None = None) -> Path:
    directory = tmp_path / "kit"
    directory.mkdir()
    (directory / "tiny_swap.onnx").write_bytes(DATA)
    (directory / "manifest.json").write_text(json.dumps({"format": 1, "generated": True, "models": [
        {"id": "tiny_swap", "role": "swapper", "file": "tiny_swap.onnx", "urls": [],
         "sha256": sha256 or hashlib.sha256(DATA).hexdigest(), "size": len(DATA),
         "license": "generated", "default": True, "contract": {}, "description": ""},
    ]}))
    return directory


def test_override_folder_wins_and_its_files_are_verified(tmp_path: Path) -> None:
    directory = _kit(tmp_path)
    store = ModelStore.resolve(tmp_path / "user-models", override=directory)
    assert store.directory == directory
    assert store.default_for("swapper").id == "tiny_swap"
    assert store.require("tiny_swap") == directory / "tiny_swap.onnx"


def test_without_override_the_catalog_and_user_folder_are_used(tmp_path: Path) -> None:
    store = ModelStore.resolve(tmp_path / "user-models", override=None)
    assert store.directory == tmp_path / "user-models"
    assert store.path("inswapper_128") == tmp_path / "user-models" / "inswapper_128.onnx"


def test_manifest_file_failing_its_hash_is_refused(tmp_path: Path) -> None:
    directory = _kit(tmp_path, sha256="c" * 64)
    store = ModelStore.from_manifest(directory)
    with pytest.raises(ModelError) as caught:
        store.require("tiny_swap")
    message = caught.value.one_line()
    assert "fails its hash check" in message and "c" * 64 in message and "swapcast models kit" in message


def test_manifest_model_without_urls_cannot_be_downloaded(tmp_path: Path) -> None:
    directory = _kit(tmp_path)
    (directory / "tiny_swap.onnx").unlink()
    with pytest.raises(ModelError, match="gives no download URL"):
        ModelStore.from_manifest(directory).download("tiny_swap")


def test_folder_without_manifest_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        ModelStore.from_manifest(tmp_path)
    assert "has no manifest.json" in caught.value.one_line() and "swapcast models kit" in caught.value.one_line()
    with pytest.raises(ModelError, match="does not exist"):
        ModelStore.from_manifest(tmp_path / "nope")


def test_missing_catalog_model_names_file_url_and_folder(tmp_path: Path) -> None:
    store = ModelStore.from_catalog(tmp_path / "models")
    status = store.status("inswapper_128")
    assert not status.present and not status.verified and status.problem
    with pytest.raises(ModelError) as caught:
        store.require("inswapper_128")
    message = caught.value.one_line()
    assert "inswapper_128.onnx" in message and str(tmp_path / "models") in message
    assert "swapcast models download inswapper_128" in message and store.spec("inswapper_128").urls[0] in message


def test_hand_placed_copy_without_published_hash_is_pinned_on_first_sight(tmp_path: Path) -> None:
    directory = _kit(tmp_path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["models"][0]["sha256"] = None
    (directory / "manifest.json").write_text(json.dumps(manifest))
    warnings: list[str] = []
    store = ModelStore.from_manifest(directory, warn=warnings.append)

    first = store.status("tiny_swap")
    assert first.verified and first.note and len(warnings) == 1
    (directory / "tiny_swap.onnx").write_bytes(b"something else")
    assert not store.status("tiny_swap").verified


def _tamper_keeping_size_and_mtime(path: Path) -> None:
    """Flip one byte in the middle and put the modification time back, as an attacker would."""
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(before.st_size // 2)
        byte = handle.read(1)
        handle.seek(before.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_same_size_edit_with_its_mtime_put_back_is_refused(tmp_path: Path) -> None:
    directory = _kit(tmp_path)
    store = ModelStore.from_manifest(directory)
    assert store.status("tiny_swap").verified  # hashed once: the cache now holds the good hash
    model = directory / "tiny_swap.onnx"
    _tamper_keeping_size_and_mtime(model)
    with pytest.raises(ModelError) as caught:
        ModelStore.from_manifest(directory).require("tiny_swap")
    message = caught.value.one_line()
    assert "\n" not in message and str(model) in message and "fails its hash check" in message


def _kit_copy(tmp_path: Path, kit_dir: Path) -> tuple[ModelStore, str]:
    """A models folder of this test's own (the generated kit) and the id of its default swapper."""
    shutil.copytree(kit_dir, tmp_path / "models")
    store = ModelStore.from_manifest(tmp_path / "models")
    return store, store.default_for("swapper").id


def test_a_tampered_model_never_reaches_onnxruntime(tmp_path: Path, kit_dir: Path) -> None:
    from engines.base import LoadOptions
    from engines.builtin.engine import BuiltinEngine

    store, swapper_id = _kit_copy(tmp_path, kit_dir)
    directory, swapper = store.directory, store.path(swapper_id)
    assert store.status(swapper_id).verified
    _tamper_keeping_size_and_mtime(swapper)  # a weight changed: onnxruntime itself would load it happily
    engine = BuiltinEngine()
    with pytest.raises(ModelError) as caught:
        engine.load(LoadOptions(models_override=directory, warmup=False))
    assert "\n" not in caught.value.one_line() and str(swapper) in caught.value.one_line()
    assert "fails its hash check" in caught.value.one_line()


def test_a_manifest_model_failing_its_hash_names_the_manifest_not_the_catalog(tmp_path: Path) -> None:
    directory = _kit(tmp_path, sha256="c" * 64)
    with pytest.raises(ModelError) as caught:
        ModelStore.from_manifest(directory).require("tiny_swap")
    assert "expected manifest's sha256" in caught.value.one_line() and "catalog" not in caught.value.one_line()


def _impostor_swapper() -> bytes:
    """A valid inswapper-contract model that differs in both what onnxruntime computes (output = the
    target crop) and the embedding map the engine reads from the file."""
    from onnx import numpy_helper

    from engines.testing.geometry_models import build_identity_swapper
    from engines.testing.swapper_model import make_emap

    model = build_identity_swapper()
    model.graph.initializer[-1].CopyFrom(numpy_helper.from_array(make_emap(seed=7), "emap"))
    return model.SerializeToString()


@pytest.mark.parametrize("how", ["replaced", "rewritten in place"])
def test_a_model_swapped_after_its_check_is_never_what_onnxruntime_runs(
    tmp_path: Path, kit_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The file is swapped between the hash check and the session's creation (the classic
    check-then-open race): the engine still runs the bytes it checked."""
    import numpy as np
    import onnxruntime as ort

    import engines.builtin.engine as engine_module
    from engines.base import LoadOptions
    from engines.builtin.engine import BuiltinEngine
    from engines.builtin.swap.swapper import read_emap

    store, swapper_id = _kit_copy(tmp_path, kit_dir)
    directory, swapper = store.directory, store.path(swapper_id)
    checked, impostor = swapper.read_bytes(), _impostor_swapper()
    real_create_session = engine_module.create_session

    def swap_the_file_then_create(path: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if path == swapper:  # checked a moment ago; now someone swaps it
            if how == "replaced":
                (tmp_path / "impostor.onnx").write_bytes(impostor)
                os.replace(tmp_path / "impostor.onnx", swapper)
            else:
                swapper.write_bytes(impostor)
        return real_create_session(path, *args, **kwargs)

    monkeypatch.setattr(engine_module, "create_session", swap_the_file_then_create)
    engine = BuiltinEngine()
    engine.load(LoadOptions(models_override=directory, providers=("cpu",), warmup=False))
    assert swapper.read_bytes() == impostor  # the swap did happen, after the check

    rng = np.random.default_rng(1)
    feed = {"target": rng.random((1, 3, 128, 128), np.float32), "source": rng.random((1, 512), np.float32)}
    ran = engine._swapper.session.run(None, feed)[0]
    assert np.array_equal(ran, ort.InferenceSession(checked).run(None, feed)[0])
    assert not np.allclose(ran, ort.InferenceSession(impostor).run(None, feed)[0])
    assert np.array_equal(engine._swapper.emap, read_emap(swapper, checked))
    assert not np.allclose(engine._swapper.emap, read_emap(swapper, impostor))


def test_two_models_of_one_architecture_never_share_a_tensorrt_engine(tmp_path: Path) -> None:
    """TensorRT keys its engine cache on the graph's structure, not its weights: each verified
    hash gets its own engine folder (the tactic timings, weight-free, are shared)."""
    from engines.builtin.runtime.sessions import TENSORRT, _provider_options

    first = _provider_options(TENSORRT, tmp_path, "a" * 64)
    second = _provider_options(TENSORRT, tmp_path, "b" * 64)
    assert first["trt_engine_cache_path"] != second["trt_engine_cache_path"]
    assert Path(first["trt_engine_cache_path"]).parent == tmp_path and Path(first["trt_engine_cache_path"]).is_dir()
    assert first["trt_timing_cache_path"] == second["trt_timing_cache_path"] == str(tmp_path)
