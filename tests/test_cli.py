"""The `swapcast` command itself: version, help, user folders, and the window it opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli.main import main
from app.paths import user_paths


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"swapcast {__version__}"


def test_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("gui", "swap", "jobs", "worker", "models", "doctor", "benchmark"):
        assert f"    {command}" in text


def test_swapcast_home_puts_every_folder_under_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWAPCAST_HOME", str(tmp_path))
    paths = user_paths().ensure()
    for folder in paths.all().values():
        assert folder.is_dir() and tmp_path in folder.parents
    assert paths.jobs_db.parent == paths.data


def test_console_script_runs(tmp_path) -> None:
    script = Path(sys.executable).with_name("swapcast")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and __version__ in result.stdout


def test_unknown_model_id_is_one_line_and_non_zero(capsys) -> None:
    code = main(["models", "path", "no_such_model"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "no_such_model" in err and len(err.splitlines()) == 1
