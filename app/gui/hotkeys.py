"""The studio's keys: the live toggles and Start/Stop on the keys chosen in Settings, and 1–9 to
switch the active source face."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from .live_panel import LivePanel
from .sources_panel import SourcesPanel


class StudioHotkeys:
    def __init__(self, window: QWidget, live_panel: LivePanel, sources: SourcesPanel) -> None:
        self._window = window
        self._actions: dict[str, Callable[[], None]] = {
            "bypass": lambda: live_panel.toggle("bypass"),
            "mirror": lambda: live_panel.toggle("mirror"),
            "enhance": lambda: live_panel.toggle("enhance"),
            "virtual_cam": lambda: live_panel.toggle("virtual_cam"),
            "start_stop": live_panel.start_button.click,
        }
        self.shortcuts: dict[str, QShortcut] = {}  # by action; set by apply()
        for index in range(9):
            face_key = QShortcut(QKeySequence(str(index + 1)), window)
            face_key.activated.connect(lambda i=index: sources.set_active(i))

    def apply(self, hotkeys: dict[str, str]) -> None:
        """Set the keys of the live actions (Settings' hotkeys; a missing one has no key)."""
        for action, callback in self._actions.items():
            sequence = QKeySequence(hotkeys.get(action, ""))
            shortcut = self.shortcuts.get(action)
            if shortcut is None:
                shortcut = QShortcut(sequence, self._window)
                shortcut.activated.connect(callback)
                self.shortcuts[action] = shortcut
            else:
                shortcut.setKey(sequence)

