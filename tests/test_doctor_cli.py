"""`swapcast doctor`: one JSON document with an entry per check, a readable table, a meaningful exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from app.doctor import CHECKS, CheckResult, runner
from app.doctor.runner import Check

CHECK_NAMES = [check.name for check in CHECKS]


def assert_document(document: dict, code: int) -> None:
    assert isinstance(document["ok"], bool)
    assert [c["name"] for c in document["checks"]] == CHECK_NAMES
    for check in document["checks"]:
        assert check["status"] in ("ok", "warn", "fail")
        assert check["summary"].strip()
        assert set(check["needed_for"]) <= {"live", "offline"}
        assert isinstance(check["details"], dict)
        if check["status"] == "fail":
            assert check["fix"], f"{check['name']} fails without saying how to fix it"
    blocking = [c for c in document["checks"] if c["status"] == "fail" and c["needed_for"]]
    assert document["ok"] == (not blocking)
    assert (code == 0) == document["ok"]


def test_doctor_json_has_one_entry_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert_document(document, code)
    by_name = {c["name"]: c for c in document["checks"]}
    # No models are downloaded in the isolated test home: that must fail for both kinds of work.
    assert by_name["models"]["status"] == "fail"
    assert by_name["models"]["needed_for"] == ["live", "offline"]
    assert "swapcast models download" in by_name["models"]["fix"]
    assert document["ready"] == {"live": False, "offline": False}
    assert code != 0


def test_doctor_runs_as_a_real_command(tmp_path: Path) -> None:
    swapcast = Path(sys.executable).with_name("swapcast")
    command = [str(swapcast)] if swapcast.exists() else [sys.executable, "-m", "app"]
    env = {**os.environ, "SWAPCAST_HOME": str(tmp_path)}
    done = subprocess.run([*command, "doctor", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert_document(json.loads(done.stdout), done.returncode)
    assert done.returncode == 1  # models are missing


def test_table_shows_marks_names_and_fixes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor"])
    out = capsys.readouterr().out
    for name in CHECK_NAMES:
        assert name in out
    assert "✗" in out and "fix: swapcast models download --all" in out
    assert "live: not ready (models)" in out and "offline: not ready (models)" in out
    assert code == 1


def test_models_option_is_honoured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-kit"
    main(["--models", str(missing), "doctor", "--json"])
    models = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "models")
    assert models["status"] == "fail" and str(missing) in models["summary"]
    main(["doctor", "--json", "--models", str(missing)])
    models = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "models")
    assert str(missing) in models["summary"]


def fixed(name: str, status: str, needed_for: frozenset[str]) -> Check:
    return Check(name, needed_for, lambda context: CheckResult(name, status, f"{name} is {status}", "do x" if status != "ok" else None, needed_for))  # type: ignore[arg-type]


def test_exit_code_follows_failures_needed_for_work(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(runner, "CHECKS", (fixed("a", "ok", frozenset({"live"})), fixed("b", "warn", frozenset({"live"}))))
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    monkeypatch.setattr(runner, "CHECKS", (fixed("a", "fail", frozenset()),))  # informative only
    assert main(["doctor"]) == 0
    monkeypatch.setattr(runner, "CHECKS", (fixed("a", "ok", frozenset()), fixed("b", "fail", frozenset({"offline"}))))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "live: ready" in out and "offline: not ready (b)" in out


def test_folders_made_by_the_doctor_first_are_owner_only_so_the_queue_stays_private(tmp_path: Path) -> None:
    """The doctor may be the first command a user runs; the folders it makes hold the jobs database,
    tokens and face gallery later, so they must not be readable by other users (models may be)."""
    import stat

    from app.paths import user_paths

    home = tmp_path / "new-home"
    swapcast = Path(sys.executable).with_name("swapcast")
    command = [str(swapcast)] if swapcast.exists() else [sys.executable, "-m", "app"]
    env = {**os.environ, "SWAPCAST_HOME": str(home)}
    subprocess.run([*command, "doctor", "--json"], capture_output=True, text=True, timeout=60, env=env)
    subprocess.run([*command, "notice", "--accept"], capture_output=True, text=True, timeout=60, env=env)
    paths = user_paths({"SWAPCAST_HOME": str(home)})
    for name in ("data", "settings", "logs", "cache"):
        folder = paths.all()[name]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, f"{name} folder {folder} is readable by others"
    assert paths.models.is_dir()
    assert (paths.settings / "consent.json").is_file()
