"""The studio's engine: loaded once on a worker thread, shared by the sources gallery (finding the
faces in a photo) and the live session (handed to it at start, so Start costs no model loading).

Loading options come from Settings (execution provider, detector size); changing them reloads the
engine in the background. Everything the engine does here runs on BackgroundTasks threads.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.paths import user_paths

from .qt_compat import emit
from .tasks import BackgroundTasks

if TYPE_CHECKING:
    from engines.base import Engine, EngineHealth, LoadOptions

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


def load_options(models: Path | None, provider: str, det_size: int) -> LoadOptions:
    from engines.base import LoadOptions

    paths = user_paths()
    return LoadOptions(
        models_dir=paths.models,
        models_override=models,
        providers=(provider,),
        det_size=det_size,
        tensorrt_cache=paths.cache / "tensorrt",
    )


class EngineService(QObject):
    stateChanged = Signal(str, str)  # EngineState value, message (progress text or the error)

    def __init__(self, tasks: BackgroundTasks, models: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self.models = models
        self.engine: Engine | None = None
        self.state = EngineState.IDLE
        self.message = ""
        self._options: LoadOptions | None = None
        self._generation = 0  # a reload supersedes a load still running

    def load(self, provider: str, det_size: int) -> None:
        options = load_options(self.models, provider, det_size)
        if options == self._options and self.state in (EngineState.LOADING, EngineState.READY):
            return
        self._options = options
        self._generation += 1
        generation = self._generation
        self._set(EngineState.LOADING, "loading models…")

        def work(report: Any) -> Engine:
            from engines.builtin.engine import BuiltinEngine

            engine = BuiltinEngine()
            engine.load(options, progress=lambda message, fraction: report(message))
            return engine

        self._tasks.submit(
            work,
            on_done=lambda engine: self._loaded(generation, engine),
            on_error=lambda error: self._failed(generation, error),
            on_progress=lambda message: self._progress(generation, str(message)),
        )

    def _set(self, state: EngineState, message: str) -> None:
        self.state, self.message = state, message
        emit(self.stateChanged, state.value, message)

    def _progress(self, generation: int, message: str) -> None:
        if generation == self._generation and self.state is EngineState.LOADING:
            self._set(EngineState.LOADING, message)

    def _loaded(self, generation: int, engine: Engine) -> None:
        if generation != self._generation:
            engine.release()  # loaded with options that were changed meanwhile
            return
        old, self.engine = self.engine, engine
        # The old engine may still serve a running session: it keeps its own reference, and the
        # sessions run on it until they stop; dropping ours is enough.
        del old
        self._set(EngineState.READY, engine.health().provider_summary)

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
        log.warning("engine failed to load: %s", text)
        self._set(EngineState.FAILED, text)

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
