"""The live controls' state: written by the GUI/CLI thread, read by the processing thread between
frames. A version number tells the processor when something changed, so an unchanged frame costs
one integer comparison."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from engines.base import LIVE_FACE_SELECTIONS, FaceSelection, Identity


def check_face_mode(mode: str) -> FaceSelection:
    """A live face mode; UnknownFaceSelection (an InputError and a ValueError) naming the valid ones."""
    return FaceSelection.parse(mode, LIVE_FACE_SELECTIONS)


@dataclass(frozen=True)
class ControlState:
    bypass: bool = False
    mirror: bool = False
    enhance: bool = False  # what the user asked for: the one owner (stats, GUI and processor read it here)
    enhancer_ready: bool = False  # the enhancer's model is loaded: it runs while both are true
    face_mode: str = "largest"
    active_source: int = 0
    identities: tuple[Identity, ...] = ()
    references: tuple[Identity, ...] = ()
    position: int = 0
    mouth_mask: bool = False
    enhance_blend: float = 0.8


    @property
    def enhancing(self) -> bool:
        """The enhancer runs on the next frame: wanted and loaded (never loaded on the frame path)."""
        return self.enhance and self.enhancer_ready


class ControlBoard:
    def __init__(self, initial: ControlState) -> None:
        self._lock = threading.Lock()
        self._state = initial
        self._version = 0

    def update(self, **changes: object) -> ControlState:
        with self._lock:
            self._state = replace(self._state, **changes)  # type: ignore[arg-type]
            self._version += 1
            return self._state

    def read(self) -> tuple[int, ControlState]:
        with self._lock:
            return self._version, self._state

    @property
    def state(self) -> ControlState:
        with self._lock:
            return self._state
