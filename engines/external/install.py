"""Is an external engine installed where the settings say, runnable, and recent enough?

Each check fails with the precise reason a person can act on: no path set, folder missing, not that
program, version too old, no interpreter, interpreter too old. The version is read from the
install's own metadata file, so no heavy import (torch, onnxruntime) is paid for a health check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import EngineConfig
from .errors import EngineUnavailable


@dataclass(frozen=True)
class InstallSpec:
    product: str  # "FaceFusion"
    entry: str  # the script the CLI runs, relative to the install folder: "facefusion.py"
    metadata: str  # where its version is written: "facefusion/metadata.py"
    version_pattern: str  # regex with one group: the version
    min_version: str  # oldest release whose CLI contract we speak
    min_version_why: str  # what needs it: "headless-run"
    min_python: tuple[int, int]


@dataclass(frozen=True)
class InstallInfo:
    root: Path
    entry: Path
    python: str
    version: str
    python_version: str


def version_tuple(text: str) -> tuple[int, ...]:
    """'3.6.0' → (3, 6, 0); '2.0c' → (2, 0); 'next' → ()."""
    numbers: list[int] = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


def read_version(root: Path, spec: InstallSpec) -> str:
    metadata = root / spec.metadata
    try:
        text = metadata.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise EngineUnavailable(f"cannot tell which {spec.product} this is: {metadata} is missing",
                                f"point path at a {spec.product} {spec.min_version}+ install folder") from None
    match = re.search(spec.version_pattern, text)
    if match is None:
        raise EngineUnavailable(f"cannot read {spec.product}'s version from {metadata}",
                                f"point path at a {spec.product} {spec.min_version}+ install folder")
    return match.group(1)


def python_candidates(root: Path) -> list[Path]:
    """Where installs keep their own interpreter (the set-up guides of both programs use a venv)."""
    names = ("venv", ".venv", "env")
    if os.name == "nt":
        return [root / name / "Scripts" / "python.exe" for name in names]
    return [root / name / "bin" / "python" for name in names]


def find_python(config: EngineConfig, root: Path) -> str:
    if config.python:
        python = Path(config.python)
        resolved = shutil.which(config.python) if python.name == config.python else None
        if resolved:
            return resolved
        if not python.is_file():
            raise EngineUnavailable(f"its interpreter {config.python} does not exist",
                                    f"fix engines.{config.name}.python in integrations.json, or leave it empty")
        if not os.access(python, os.X_OK):
            raise EngineUnavailable(f"its interpreter {config.python} is not executable",
                                    f"fix engines.{config.name}.python in integrations.json")
        return str(python)
    for candidate in python_candidates(root):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("python3") or shutil.which("python")
    if found is None:
        raise EngineUnavailable(f"no Python interpreter: no venv inside {root} and no python3 on PATH",
                                f"set engines.{config.name}.python in integrations.json")
    return found


def probe_python(python: str, timeout_s: float) -> tuple[int, int]:
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EngineUnavailable(f"its interpreter {python} did not answer within {timeout_s:g} s") from None
    except OSError as error:
        raise EngineUnavailable(f"its interpreter {python} does not run: {error.strerror or error}") from None
    text = done.stdout.strip()
    if done.returncode != 0 or not re.fullmatch(r"\d+\.\d+", text):
        detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise EngineUnavailable(f"its interpreter {python} does not run: {detail[:160]}")
    major, minor = text.split(".")
    return int(major), int(minor)


def check_install(config: EngineConfig, spec: InstallSpec, timeout_s: float) -> InstallInfo:
    """InstallInfo, or EngineUnavailable saying exactly what is wrong."""
    if not config.path:
        raise EngineUnavailable(f"no install path set for {spec.product}",
                                f"set engines.{config.name}.path in integrations.json to the {spec.product} folder")
    root = Path(config.path)
    if not root.is_dir():
        raise EngineUnavailable(f"{spec.product} install folder {root} does not exist",
                                f"fix engines.{config.name}.path in integrations.json")
    entry = root / spec.entry
    if not entry.is_file():
        raise EngineUnavailable(f"{root} has no {spec.entry}: not a {spec.product} install",
                                f"point engines.{config.name}.path at the folder that holds {spec.entry}")
    version = read_version(root, spec)
    if version_tuple(version) < version_tuple(spec.min_version):
        raise EngineUnavailable(f"{spec.product} {version} at {root} is too old: {spec.min_version_why} needs "
                                f"{spec.min_version} or newer", f"update {spec.product}")
    python = find_python(config, root)
    found = probe_python(python, timeout_s)
    if found < spec.min_python:
        need = ".".join(map(str, spec.min_python))
        raise EngineUnavailable(f"{spec.product} needs Python {need}+, but {python} is {found[0]}.{found[1]}",
                                f"set engines.{config.name}.python to its venv's interpreter")
    return InstallInfo(root=root, entry=entry, python=python, version=version, python_version=f"{found[0]}.{found[1]}")
