"""Locates the shared `resources/` folder (model catalog, icons, defaults)."""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources"
