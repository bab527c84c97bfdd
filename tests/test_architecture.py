"""The layering of docs/ARCHITECTURE.md as contracts ([tool.importlinter] in pyproject.toml), checked
by import-linter: engines/ never imports app/, only app.gui imports Qt, each app/ layer imports only
from the layers below it. A violation fails here with lint-imports' report (which import, which line).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} not found: install the dev extra (./setup_virtual_env.sh --dev)")
    # PYTHONPATH first: the tree under `root` is the one analysed, not the installed one.
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_import_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, f"lint-imports found a layer violation:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("engines/base.py", "import app.paths", "engines/ never imports app/"),
    ("app/jobs/model.py", "import PySide6.QtCore", "only app.gui imports Qt"),
    ("app/pipeline/controls.py", "import app.gui.style", "app/ layers"),
    ("app/jobs/cli_options.py", "import app.cli.common", "app/ layers"),
    ("app/offline/runner.py", "import app.cli.common", "app/ layers"),
    ("app/jobs/worker.py", "import uvicorn", "only app.server imports the web framework"),
])
def test_a_violating_import_breaks_its_contract(tmp_path, module, line, contract) -> None:
    """The contracts are not vacuous: one forbidden import in a copy of the tree breaks the right one."""
    for package in ("app", "engines"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}  # the violation under test\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert f"{contract}" in done.stdout and "BROKEN" in done.stdout
    assert "1 broken" in done.stdout, done.stdout  # only the contract this import breaks
