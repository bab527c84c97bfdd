"""The session's status line: one short message per topic, set from any thread, read joined."""

from __future__ import annotations

import enum
import threading


class Topic(str, enum.Enum):
    SESSION = "session"  # starting up, or why it failed
    CAMERA = "camera"  # "camera 0 gone — reopening…"
    ENGINE = "engine"  # frames passing through unswapped
    FACES = "faces"  # reference mode without reference faces
    CONTROLS = "controls"  # a control that could not apply
    ENHANCER = "enhancer"
    SOURCES = "sources"
    STATS = "stats"  # --stats-json cannot be written
    OUTPUTS = "outputs"  # at the end: what was saved


class StatusLine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[Topic, str] = {}

    def set(self, topic: Topic, text: str) -> None:
        """`text` replaces the topic's message; "" clears it."""
        with self._lock:
            if text:
                self._messages[topic] = text
            else:
                self._messages.pop(topic, None)

    def reset(self, topic: Topic | None = None, text: str = "") -> None:
        """Drop every message; then set `topic` to `text` when given."""
        with self._lock:
            self._messages = {topic: text} if topic is not None and text else {}

    def text(self) -> str:
        with self._lock:
            return " · ".join(m for m in self._messages.values() if m)
