"""Preview: the swapped frames handed to listeners (the GUI), and the CLI's optional OpenCV window.

Listeners run on this output's thread, never on the processing thread, so a slow listener costs
preview frames (newest wins) and nothing else. They get a read-only view: the same frame goes to
the virtual camera and the recording, and must not be drawn on.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Callable

from app.pipeline.api import PreviewListener
from app.pipeline.frame import LiveFrame
from app.pipeline.stats import PipelineStats

from .base import OK, UNAVAILABLE, Output, OutputUnavailable

log = logging.getLogger(__name__)

WINDOW_TITLE = "SwapCast preview (q or Esc closes)"


class Listeners:
    """A copy-on-write list: adding or removing never blocks the thread that calls them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: tuple[PreviewListener, ...] = ()

    def add(self, listener: PreviewListener) -> Callable[[], None]:
        with self._lock:
            self._items = self._items + (listener,)

        def remove() -> None:
            with self._lock:
                items = list(self._items)
                if listener in items:
                    items.remove(listener)
                self._items = tuple(items)

        return remove

    def snapshot(self) -> tuple[PreviewListener, ...]:
        return self._items

    def __len__(self) -> int:
        return len(self._items)


def display_problem() -> str | None:
    """Why an OpenCV window cannot open here, or None. Checked first: OpenCV's bundled Qt aborts the
    whole process (no exception) when it finds no display."""
    if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set)"
    return None


def window_unavailable(problem: str) -> OutputUnavailable:
    return OutputUnavailable(f"cannot open a preview window: {problem}",
                             "run where a desktop is available, or use --virtual-cam/--stream/--record")


class PreviewOutput(Output):
    name = "preview"

    def __init__(self, listeners: Listeners, window: bool = False, stats: PipelineStats | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        super().__init__(stats)
        self.listeners = listeners
        self.window = window
        self.on_close = on_close  # the user closed the window (q / Esc)
        self._window_open = False
        self._window_problem: str | None = None
        self.listener_errors = 0

    @property
    def active(self) -> bool:
        return self.window or len(self.listeners) > 0

    def _describe(self) -> str:
        parts = []
        if self.window:
            parts.append("window" if self._window_problem is None else f"no window: {self._window_problem}")
        parts.append(f"{len(self.listeners)} listener(s)")
        return ", ".join(parts)

    def _open(self, frame: LiveFrame) -> None:
        if self.window:
            self._window_problem = display_problem()
            if self._window_problem and not len(self.listeners):
                raise window_unavailable(self._window_problem)

    def _send(self, frame: LiveFrame) -> None:
        view = frame.image.view()
        view.flags.writeable = False
        for listener in self.listeners.snapshot():
            try:
                listener(view, frame.captured_at)
            except Exception:  # noqa: BLE001 — a broken listener must not take the preview down
                self.listener_errors += 1
                if self.listener_errors <= 3:
                    log.exception("preview listener failed")
        if self.window and self._window_problem is None:
            self._show(frame)
        if self._state == OK:
            self._detail = self._describe()

    def _show(self, frame: LiveFrame) -> None:
        import cv2

        try:
            cv2.imshow(WINDOW_TITLE, frame.image)
            self._window_open = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as error:
            self._window_problem = str(error).strip().splitlines()[-1]
            self._set(UNAVAILABLE if not len(self.listeners) else OK, self._describe())
            return
        if key in (ord("q"), 27) and self.on_close is not None:
            self.on_close()

    def _close(self, completed: bool) -> None:
        if self._window_open:
            import cv2

            try:
                cv2.destroyWindow(WINDOW_TITLE)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._window_open = False
