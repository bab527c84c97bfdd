"""The `swapcast` command itself: version, help, user folders, and the window it opens."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli.main import build_parser, main
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


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, as the words a user types (`("jobs", "list")`)."""
    found = [path] if path else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _command_paths(sub, (*path, name))
    return found


def test_every_command_and_subcommand_takes_models_after_it(capsys) -> None:
    paths = _command_paths(build_parser())
    assert ("jobs", "list") in paths and ("worker",) in paths and len(paths) > 15
    missing = []
    for path in paths:
        with pytest.raises(SystemExit):
            main([*path, "--help"])
        if "--models DIR" not in capsys.readouterr().out:
            missing.append(" ".join(path))
    assert missing == []


@pytest.mark.parametrize("command", [["engines"], ["cameras", "--json"], ["jobs", "list"], ["worker"]])
def test_models_is_accepted_before_and_after_the_command(command, kit_dir, capsys) -> None:
    after = main([*command, "--models", str(kit_dir)])
    assert after == 0, capsys.readouterr().err
    before = main(["--models", str(kit_dir), *command])
    assert before == 0, capsys.readouterr().err
    assert "SWAPCAST_MODELS" not in os.environ  # --models applies to that one command only


def test_worker_models_option_is_the_folder_its_jobs_use(tmp_path, kit_dir, capsys) -> None:
    output = tmp_path / "out.png"
    # Queued without a models folder: the worker's --models decides which models run it.
    assert main(["jobs", "add", "-s", str(kit_dir / "samples" / "source_a.png"),
                 "-t", str(kit_dir / "samples" / "target.png"), "-o", str(output)]) == 0
    code = main(["worker", "--models", str(kit_dir)])
    assert code == 0, capsys.readouterr().err
    assert output.is_file()
