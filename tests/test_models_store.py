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


def test_a_tampered_model_never_reaches_onnxruntime(tmp_path: Path, kit_dir: Path) -> None:
    from engines.base import LoadOptions
    from engines.builtin.engine import BuiltinEngine

    directory = tmp_path / "models"
    shutil.copytree(kit_dir, directory)
    store = ModelStore.from_manifest(directory)
    swapper = store.path(store.default_for("swapper").id)
    assert store.status(store.default_for("swapper").id).verified
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
