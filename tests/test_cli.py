"""The `swapcast` command itself: version, help, user folders, and the window it opens."""

from __future__ import annotations

import argparse
import os
import shlex
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
    # Queued without a models folder (as a front end on another machine would: `jobs add` here refuses a
    # built-in job with no models installed), so the worker's --models decides which models run it.
    from app.jobs.model import JobSpec
    from app.jobs.store import JobStore
    from app.paths import user_paths

    with JobStore(user_paths().jobs_db) as store:
        store.add(JobSpec(sources=[str(kit_dir / "samples" / "source_a.png")],
                          targets=[str(kit_dir / "samples" / "target.png")], output=str(output)))
    code = main(["worker", "--models", str(kit_dir)])
    assert code == 0, capsys.readouterr().err
    assert output.is_file()


def _files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_swapcast_home_holds_everything_written_by_default_not_the_real_home(tmp_path, kit_dir) -> None:
    """A portable install (SWAPCAST_HOME) leaves the user's home untouched: settings, jobs, logs, outputs,
    and the caches of the libraries it runs (onnxruntime writes one under ~/.cache by default)."""
    home, swapcast_home = tmp_path / "home", tmp_path / "portable"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    env.update(HOME=str(home), SWAPCAST_HOME=str(swapcast_home), SWAPCAST_ACCEPT_NOTICE="1",
               QT_QPA_PLATFORM="offscreen")
    script = str(Path(sys.executable).with_name("swapcast"))
    samples = kit_dir / "samples"
    commands = [
        ["notice", "--accept"],
        ["doctor", "--models", str(kit_dir)],
        ["jobs", "add", "--models", str(kit_dir), "-s", str(samples / "source_a.png"), "-t", str(samples / "target.png"),
         "-o", str(tmp_path / "queued.png")],
        ["worker", "--models", str(kit_dir)],
        ["live", "--models", str(kit_dir), "-s", str(samples / "source_a.png"), "--camera", str(samples / "target.mp4"),
         "--record", str(tmp_path / "take.mp4"), "--duration", "0.5"],
    ]
    for command in commands:
        result = subprocess.run([script, *command], env=env, capture_output=True, text=True, timeout=300)
        # doctor exits 1 when something (here: a camera) is missing, and still checks every folder.
        assert result.returncode == 0 or (command[0] == "doctor" and "folders" in result.stdout), \
            (command, result.stdout, result.stderr)
        assert _files_under(home) == [], (command, _files_under(home))
    assert (tmp_path / "queued.png").is_file() and (tmp_path / "take.mp4").is_file()
    assert (swapcast_home / "data" / "jobs.sqlite3").is_file()


def test_default_output_folders_are_under_swapcast_home(qtbot, tmp_path, monkeypatch) -> None:
    from app.gui.add_job_dialog import AddJobDialog
    from app.gui.settings import Preferences

    monkeypatch.setenv("SWAPCAST_HOME", str(tmp_path / "portable"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    outputs = tmp_path / "portable" / "outputs"
    assert user_paths().outputs == outputs
    assert Preferences().output_dir == outputs  # recordings and studio job outputs
    dialog = AddJobDialog()
    qtbot.addWidget(dialog)
    assert dialog.output_dir == outputs


def test_without_swapcast_home_outputs_go_to_the_swapcast_folder_in_home(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SWAPCAST_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_paths().outputs == tmp_path / "SwapCast"


REPO = Path(__file__).resolve().parents[1]


def _readme_shell_lines() -> list[str]:
    lines, inside = [], False
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if inside:
            lines.append(" ".join(shlex.split(line, comments=True)))
    return lines


def test_every_swapcast_command_in_the_readme_is_valid_as_written() -> None:
    commands = [line for line in _readme_shell_lines() if line.startswith("swapcast ")]
    assert len(commands) > 15
    for command in commands:
        try:
            args = build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit as exit_info:  # --help exits 0; a bad command exits 2
            assert exit_info.code == 0, command
            continue
        assert args.command is not None, command


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    readme = [line for line in _readme_shell_lines() if line.startswith("./setup_virtual_env.sh --locked --dev &&")]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme and readme[0] in ci and "pytest" in readme[0]
    assert all((REPO / f"requirements/lock-{name}.txt").is_file() for name in ("cpu", "cpu-dev", "gpu", "gpu-dev"))
