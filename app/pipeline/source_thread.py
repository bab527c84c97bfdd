"""A live input read on its own thread (the camera's frames, the microphone's blocks) until stopped."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Protocol


class Closable(Protocol):
    def close(self) -> None: ...


class SourceThread(ABC):
    """Runs `_run` on a daemon thread named `thread_name`; `stop()` asks it to end (`_stop` is set),
    waits at most `timeout` and closes the source, so a hung device never blocks the session's end."""

    thread_name = "live-source"

    def __init__(self, source: Closable) -> None:
        self.source = source
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.source.close()

    @abstractmethod
    def _run(self) -> None:
        """Read until `self._stop` is set."""
