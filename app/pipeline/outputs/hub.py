"""Fan-out from the processing thread to the outputs that are on right now."""

from __future__ import annotations

import threading

from app.pipeline.api import OutputStatus
from app.pipeline.frame import LiveFrame

from .base import Output
from .preview import PreviewOutput


class OutputHub:
    """Outputs can be added and removed while frames flow: the list is replaced, never mutated, so
    `publish` iterates without a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outputs: tuple[Output, ...] = ()

    def add(self, output: Output) -> None:
        with self._lock:
            self._outputs = self._outputs + (output,)

    def remove(self, output: Output) -> None:
        with self._lock:
            self._outputs = tuple(o for o in self._outputs if o is not output)

    def find(self, name: str) -> Output | None:
        return next((o for o in self._outputs if o.name == name), None)

    def outputs(self) -> tuple[Output, ...]:
        return self._outputs

    def publish(self, frame: LiveFrame) -> None:
        for output in self._outputs:
            output.offer(frame)

    def statuses(self) -> tuple[OutputStatus, ...]:
        return tuple(o.status() for o in self._outputs
                     if not isinstance(o, PreviewOutput) or o.active)
