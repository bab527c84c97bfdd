"""The studio's engine: loaded once on a worker thread, shared by the sources gallery (finding the
faces in a photo) and the live session (handed to it at start, so Start costs no model loading).

Which engine and profile come from the integration settings (app.engine_host.cache, the same
choice `swapcast live` makes); Settings may override the execution provider and detector size.
Changing them loads another engine in the background. Everything slow runs on BackgroundTasks.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from .messages import Brief, brief
from .qt_compat import emit
from .tasks import BackgroundTasks

if TYPE_CHECKING:
    from engines.base import Engine, EngineHealth

log = logging.getLogger(__name__)


class EngineState(str, enum.Enum):
    IDLE = "idle"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class FoundFace:
    """A face found in a source photo: its box (x1, y1, x2, y2) in the photo's pixels."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def center_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2.0


def live_engine_with(models: Path | None, provider: str, det_size: int) -> tuple[str, Engine]:
    """The live engine the integration settings pick (builtin, or its lite profile), with the
    studio's overrides: a provider other than "auto", a detector size other than 0 (= the profile's).

    Loaded through the shared engine cache, so the memory allocator admits it and offline jobs with
    the same options reuse it. Slow (model loading): call it on a worker.
    """
    from engines.base import LoadOptions

    from app.engine_host.cache import base_options, shared_engine, shared_manager

    folder = str(models) if models else None
    adapter = shared_manager().live_adapter()
    options: LoadOptions = adapter.load_options(base_options(folder))
    changes: dict[str, object] = {}
    if provider != "auto":
        changes["providers"] = (provider,)
    if det_size:
        changes["det_size"] = int(det_size)
    options = replace(options, **changes)  # type: ignore[arg-type]
    return adapter.name, shared_engine(folder, options, owner=adapter.name, adapter=adapter)


class EngineService(QObject):
    stateChanged = Signal(str, str)  # EngineState value, message (progress text or the error)

    def __init__(self, tasks: BackgroundTasks, models: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.models = models
        self.engine: Engine | None = None
        self.state = EngineState.IDLE
        self.message = ""
        self.problem: Brief | None = None  # why the last load failed, in short and in full
        self.name = ""  # the integrations.json entry that was loaded (builtin, builtin-lite)
        self._wanted: tuple[str, int] | None = None
        self._generation = 0  # a reload supersedes a load still running

    def load(self, provider: str, det_size: int) -> None:
        wanted = (provider, int(det_size))
        if wanted == self._wanted and self.state in (EngineState.LOADING, EngineState.READY):
            return
        self._wanted = wanted
        self._generation += 1
        generation = self._generation
        self._set(EngineState.LOADING, "loading models…")
        models = self.models
        self._tasks.submit(
            lambda: live_engine_with(models, provider, int(det_size)),
            on_done=lambda loaded: self._loaded(generation, loaded),
            on_error=lambda error: self._failed(generation, error),
        )

    def _set(self, state: EngineState, message: str) -> None:
        self.state, self.message = state, message
        if state is not EngineState.FAILED:
            self.problem = None
        emit(self.stateChanged, state.value, message)

    def _loaded(self, generation: int, loaded: tuple[str, Engine]) -> None:
        if generation != self._generation:
            return  # options changed meanwhile; the engine stays in the shared cache for others
        self.name, self.engine = loaded
        # A running session keeps the engine it was started with; the next Start uses this one.
        self._set(EngineState.READY, f"{self.name}: {self.engine.health().provider_summary}")

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        from engines.errors import ModelError

        # A missing or broken model file: the Models tab downloads it or shows where it goes.
        problem = brief(error, "get it on the Models tab" if isinstance(error, ModelError) else None)
        log.warning("engine failed to load: %s", problem.details)
        self.problem = problem
        self._set(EngineState.FAILED, problem.details)

    def health(self) -> EngineHealth | None:
        return self.engine.health() if self.engine is not None else None

    # ---- work for the sources gallery (call on a worker thread) ----------------------------------
    def find_faces(self, photo: Path) -> list[FoundFace]:
        """The faces of a photo, left to right. Runs the engine's detector: call it off the GUI thread."""
        from engines.imaging import read_image

        engine = self.engine
        if engine is None or not hasattr(engine, "faces"):
            raise RuntimeError("the engine is not loaded yet")
        image = read_image(photo)
        faces = engine.faces(image)  # type: ignore[attr-defined]
        found = [FoundFace(tuple(float(v) for v in face.box), float(face.score)) for face in faces]  # type: ignore[misc]
        return sorted(found, key=lambda f: f.center_x)
