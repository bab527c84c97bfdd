"""Shared fixtures: an isolated SWAPCAST_HOME, offscreen Qt, and the generated model kit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt must never try to open a display in tests or CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def swapcast_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user folders, so nothing touches the real ones."""
    home = tmp_path_factory.mktemp("swapcast-home")
    monkeypatch.setenv("SWAPCAST_HOME", str(home))
    # The CLI asks for the responsible-use notice once; tests act as automation that accepted it
    # (the studio ignores this and always shows its dialog; test_consent.py checks the gate itself).
    monkeypatch.setenv("SWAPCAST_ACCEPT_NOTICE", "1")
    monkeypatch.delenv("SWAPCAST_MODELS", raising=False)
    return home


@pytest.fixture(scope="session")
def kit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny generated models (with samples), written once per test session."""
    from engines.testing.kit import write_kit

    directory = tmp_path_factory.mktemp("kit")
    write_kit(directory, samples=True)
    return directory
