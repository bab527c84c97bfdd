"""The catalog format: the shipped catalog is sound, and every mistake is one line naming its entry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engines.errors import ModelError
from engines.models import ROLES, ModelStore, load_catalog
from engines.models.store import default_catalog_path

REQUIRED_IDS = {"det_10g", "w600k_r50", "inswapper_128", "inswapper_128_fp16", "gfpgan_1.4"}


def test_shipped_catalog_is_complete_and_pinned() -> None:
    specs = load_catalog(default_catalog_path())
    by_id = {spec.id: spec for spec in specs}

    assert REQUIRED_IDS <= set(by_id)
    for role in ROLES:
        assert [spec.id for spec in specs if spec.role == role and spec.default], role
    assert len([s for s in specs if s.role == "swapper" and s.default]) == 1
    assert by_id["inswapper_128"].default and not by_id["inswapper_128_fp16"].default
    for spec in specs:
        if spec.default:  # what every user downloads must survive one host going away
            assert len(spec.urls) >= 2, f"{spec.id} needs a primary and a mirror URL"
        assert spec.all_urls, f"{spec.id} has no URL at all"
        assert all(url.startswith("https://") for url in spec.all_urls), spec.id
        if spec.sha256 is None:
            assert spec.sha256_note, f"{spec.id}: null sha256 needs a note"
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.id
        assert spec.size is None or spec.size > 1_000_000, spec.id
        assert spec.license.strip(), spec.id
        assert {"inputs", "outputs"} <= set(spec.contract), spec.id
    assert "non-commercial" in by_id["inswapper_128"].license.lower()
    assert "apache-2.0" in by_id["gfpgan_1.4"].license.lower()


def test_shipped_catalog_defaults_per_role() -> None:
    store = ModelStore.from_catalog(Path("unused"))
    assert store.default_for("detector").id == "det_10g"
    assert store.default_for("recognizer").id == "w600k_r50"
    assert store.default_for("swapper").id == "inswapper_128"
    assert store.default_for("enhancer").id == "gfpgan_1.4"


def _good(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": "m1", "role": "swapper", "file": "m1.onnx", "urls": ["https://example.org/m1.onnx"],
        "sha256": "a" * 64, "size": 10, "license": "x", "default": True,
    }
    value.update(changes)
    return {key: val for key, val in value.items() if val is not ...}


def _write(tmp_path: Path, models: list[dict[str, Any]], **top: Any) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"format": 1, "models": models, **top}))
    return path


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        (_good(role="painter"), "\"role\" must be one of"),
        (_good(sha256="abc"), "\"sha256\" must be 64 hex"),
        (_good(file="../escape.onnx"), "plain file name"),
        (_good(file="sub/m1.onnx"), "plain file name"),
        (_good(urls=["ftp://example.org/m1.onnx"]), "not an http(s) URL"),
        (_good(urls="https://example.org/m1.onnx"), "list of URL strings"),
        (_good(sha256=None), "add a \"sha256_note\""),
        (_good(size=-1), "\"size\" must be a whole number"),
        (_good(default="yes"), "\"default\" must be true or false"),
        (_good(archive={"member": "m1.onnx"}), "\"archive\" needs \"urls\""),
        (_good(archive={"url_is_zip": True, "member": "../x"}), "relative path inside the zip"),
    ],
)
def test_bad_entry_is_one_line_naming_the_entry(tmp_path: Path, entry: dict[str, Any], needle: str) -> None:
    path = _write(tmp_path, [entry])
    with pytest.raises(ModelError) as caught:
        load_catalog(path)
    message = caught.value.one_line()
    assert "\n" not in message
    assert str(path) in message and "'m1'" in message and needle in message


def test_entry_without_id_is_named_by_position(tmp_path: Path) -> None:
    path = _write(tmp_path, [_good(), _good(id=...)])
    with pytest.raises(ModelError, match=r"model #1: \"id\""):
        load_catalog(path)


@pytest.mark.parametrize(
    ("models", "needle"),
    [
        ([_good(), _good()], "'m1' is listed twice"),
        ([_good(), _good(id="m2", file="m2.onnx")], "role 'swapper' has 2 defaults (m1, m2)"),
        ([_good(default=False), _good(id="m2", file="m2.onnx", default=False)], "role 'swapper' has no default"),
    ],
)
def test_role_and_id_rules(tmp_path: Path, models: list[dict[str, Any]], needle: str) -> None:
    with pytest.raises(ModelError) as caught:
        load_catalog(_write(tmp_path, models))
    assert needle in caught.value.one_line()


def test_file_level_problems_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "models": [\n  {"id": }\n]}')
    with pytest.raises(ModelError, match=r"broken.json: not valid JSON \(line 2"):
        load_catalog(broken)
    with pytest.raises(ModelError, match="does not exist"):
        load_catalog(tmp_path / "missing.json")
    with pytest.raises(ModelError, match="unsupported \"format\" 2"):
        load_catalog(_write(tmp_path, [_good()], format=2))


def test_manifest_style_entries_load(tmp_path: Path) -> None:
    """The kit's manifest: generated, no URLs, single model per role needs no explicit default."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format": 1, "generated": True, "models": [
        {"id": "tiny_det", "role": "detector", "file": "tiny_det.onnx", "urls": [], "sha256": "b" * 64,
         "size": 1234, "license": "generated", "contract": {"inputs": "x", "outputs": "y"}, "extra": 1},
    ]}))
    (spec,) = load_catalog(path)
    assert spec.urls == () and spec.size == 1234 and spec.contract["inputs"] == "x"


def test_unknown_id_lists_known_ids() -> None:
    store = ModelStore.from_catalog(Path("unused"))
    with pytest.raises(ModelError) as caught:
        store.spec("inswapper_256")
    assert "inswapper_128" in caught.value.one_line() and "det_10g" in caught.value.one_line()
