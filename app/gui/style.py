"""Colours shared by the panels, so ok / degraded / down look the same everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor

OK = "#2e9d57"
DEGRADED = "#d68910"
DOWN = "#c0392b"
IDLE = "#7f8c8d"

LEVEL_COLOURS: dict[str, str] = {"ok": OK, "degraded": DEGRADED, "down": DOWN, "idle": IDLE}

# One colour per pipeline stage in the history plot, in a fixed order so a stage keeps its colour.
STAGE_COLOURS: tuple[str, ...] = ("#3498db", "#e67e22", "#9b59b6", "#1abc9c", "#e74c3c", "#f1c40f", "#95a5a6",
                                  "#34495e")


def level_colour(level: str) -> QColor:
    return QColor(LEVEL_COLOURS.get(level, IDLE))


def output_colour(state: str) -> str:
    """Text colour for an output's state ("ok" | "retrying" | "unavailable" | "stopped")."""
    return {"ok": OK, "retrying": DEGRADED, "unavailable": DOWN}.get(state, "")
