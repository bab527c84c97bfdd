"""`swapcast models ...` as a user runs it."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from app.cli.main import main


def test_list_json_parses_and_covers_the_catalog(swapcast_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {row["id"]: row for row in rows}
    assert {"det_10g", "w600k_r50", "inswapper_128", "inswapper_128_fp16", "gfpgan_1.4"} <= set(by_id)
    row = by_id["inswapper_128"]
    assert row["present"] is False and row["verified"] is False and row["default"] is True
    assert row["path"] == str(swapcast_home / "models" / "inswapper_128.onnx")
    assert row["license"] and row["urls"]


def test_list_table_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["ID", "ROLE", "FILE", "PRESENT", "VERIFIED", "SIZE", "LICENCE"]
    assert "inswapper_128 *" in out and "Non-commercial research only" in out


def test_path_prints_the_models_folder_or_a_file(swapcast_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(swapcast_home / "models")
    assert main(["models", "path", "gfpgan_1.4"]) == 0
    assert capsys.readouterr().out.strip() == str(swapcast_home / "models" / "GFPGANv1.4.onnx")


def test_models_env_var_points_at_a_manifest_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "models": []}))
    monkeypatch.setenv("SWAPCAST_MODELS", str(tmp_path))
    assert main(["models", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path)


def test_unknown_id_and_empty_download_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "download", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "inswapper_128" in err and err.count("\n") == 1
    assert main(["models", "download"]) == 2
    assert "--all" in capsys.readouterr().err


def test_verify_reports_missing_defaults_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify"]) != 0
    captured = capsys.readouterr()
    assert "inswapper_128.onnx is missing" in captured.err
    assert "inswapper_128_fp16: not downloaded (optional)" in captured.out


def test_kit_calls_the_kit_writer_and_explains_how_to_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[Path, bool, bool]] = []
    fake = types.ModuleType("engines.testing.kit")

    def write_kit(directory: Path, samples: bool = False, timing: bool = False) -> None:
        calls.append((directory, samples, timing))

    fake.write_kit = write_kit  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engines.testing.kit", fake)

    assert main(["models", "kit", str(tmp_path / "kit"), "--samples"]) == 0

    assert calls == [((tmp_path / "kit").resolve(), True, False)]
    out = capsys.readouterr().out
    assert str((tmp_path / "kit").resolve() / "manifest.json") in out and "--models" in out
