"""Helpers for the GUI tests: a studio window on the generated models, and pixel checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QWidget

from app.gui.bridges import qimage_to_bgr
from app.gui.engine_service import EngineState
from app.gui.main_window import StudioWindow
from app.gui.settings import StudioSettings
from engines.testing.synthetic_face import identity_by_name

# source_a.png is "coral"; the sample video's face is "amber": a swapped preview frame is full of
# coral skin, an unswapped one has none (backgrounds never pass the skin rule).
CORAL_BGR = np.array(identity_by_name("coral").skin_bgr, dtype=np.int32)


def coral_fraction(image: QImage | None) -> float:
    """Share of the image's pixels that have the coral source's skin colour."""
    if image is None or image.isNull():
        return 0.0
    frame = qimage_to_bgr(image).astype(np.int32)
    return float((np.abs(frame - CORAL_BGR).max(axis=2) < 30).mean())


def python_threads() -> set[threading.Thread]:
    """Threads Python started (Qt's pool threads show up as _DummyThread and are the pool's business)."""
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


def make_window(qtbot: Any, kit_dir: Path | None, *, accept: bool = True, start: bool = True,
                **kwargs: Any) -> StudioWindow:
    settings = StudioSettings()
    if accept:
        settings.accept_consent()  # the same key the notice writes
    kwargs.setdefault("list_devices", False)
    window = StudioWindow(settings, kit_dir, **kwargs)
    window.resize(1440, 900)
    window.show()
    if start:
        window.start()
    return window


def wait_engine(qtbot: Any, window: StudioWindow, timeout_ms: int = 15000) -> None:
    qtbot.waitUntil(lambda: window.engine.state is EngineState.READY, timeout=timeout_ms)


@contextmanager
def studio(qtbot: Any, kit_dir: Path | None, **kwargs: Any) -> Iterator[StudioWindow]:
    """A window that is shut down afterwards, and proof that it left no thread behind."""
    before = python_threads()
    window = make_window(qtbot, kit_dir, **kwargs)
    try:
        yield window
    finally:
        window.close()
        assert window._closed
        leftover = python_threads() - before
        # Every pipeline and job thread is joined by shutdown(); give daemon stragglers a moment.
        for thread in leftover:
            thread.join(timeout=5)
        assert not [t for t in leftover if t.is_alive()], f"threads left running: {leftover}"


def shown_text(widget: QWidget) -> str:
    """The text of every label the user can see in `widget`, one per line."""
    return "\n".join(label.text() for label in widget.findChildren(QLabel) if label.isVisibleTo(widget)
                     and label.text())


def shown_tooltips(widget: QWidget) -> str:
    """The tooltips of the labels the user can see in `widget` (the details behind a one-line error)."""
    return "\n".join(label.toolTip() for label in widget.findChildren(QLabel) if label.isVisibleTo(widget)
                     and label.toolTip())


def health_roles(window) -> set[str]:  # type: ignore[no-untyped-def]
    """The model roles the studio's health table lists ("detector", "swapper", …)."""
    table = window.health.models
    return {table.item(r, 0).text().split(" · ")[0] for r in range(table.rowCount())}
