"""The live controls (bypass, mirror, faces, sources, enhancer, …) as the session offers them.

Each writes the ControlBoard, the one place their state lives: the processor reads it between frames,
`stats()` reads it for the GUI and the CLI. A control that needs the engine (recognising photos,
loading the enhancer) is a side task once start-up has handed the engine over (`attach`); asked for
before that, start-up applies it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from engines.base import Engine
from engines.errors import InputError

from .controls import ControlBoard, check_face_mode
from .engine_tasks import load_enhancer, one_line, recognise
from .side_tasks import SideTasks
from .status import StatusLine, Topic

Groups = tuple[tuple[Path, ...], ...]


class ControlPanel:
    def __init__(self, board: ControlBoard, status: StatusLine, side: SideTasks) -> None:
        self.board = board
        self._status = status
        self._side = side
        self._lock = threading.Lock()
        self._engine: Engine | None = None  # set by `attach`
        self._pending_groups: Groups | None = None  # sources asked for before `attach`

    # ---- start-up's side ---------------------------------------------------------------------
    def take_pending_groups(self) -> Groups | None:
        with self._lock:
            groups, self._pending_groups = self._pending_groups, None
            return groups

    def attach(self, engine: Engine) -> None:
        """Start-up loaded the engine and recognised the faces: controls asked for while it did run now."""
        with self._lock:
            self._engine = engine
            late_groups, self._pending_groups = self._pending_groups, None
        if late_groups is not None:
            self._side.submit(lambda: self._replace_sources(engine, late_groups))
        # set_enhance writes the board before it looks for the engine, so one of the two sees the other.
        if self.board.state.enhance and not self.board.state.enhancer_ready:
            self._side.submit(lambda: self._enable_enhancer(engine))

    def _attached(self) -> Engine | None:
        with self._lock:
            return self._engine

    # ---- picture -----------------------------------------------------------------------------
    def set_bypass(self, on: bool) -> None:
        self.board.update(bypass=bool(on))

    def set_mirror(self, on: bool) -> None:
        self.board.update(mirror=bool(on))

    def set_mouth_mask(self, on: bool) -> None:
        self.board.update(mouth_mask=bool(on))

    def set_enhance_blend(self, amount: float) -> None:
        self.board.update(enhance_blend=min(1.0, max(0.0, float(amount))))

    def set_enhance(self, on: bool) -> None:
        self.board.update(enhance=bool(on))
        if on and not self.board.state.enhancer_ready:
            engine = self._attached()
            if engine is not None:
                self._side.submit(lambda: self._enable_enhancer(engine))
            # else: start-up loads it once the engine is there

    def _enable_enhancer(self, engine: Engine) -> None:
        """Side task: load the enhancer (seconds with real models) while frames flow; it runs once loaded."""
        if self.board.state.enhancer_ready:
            return
        self._status.set(Topic.ENHANCER, "loading the enhancer…")
        try:
            load_enhancer(engine)
        except Exception as error:  # noqa: BLE001 — a missing model file must not end the session
            self.board.update(enhance=False)  # refused: what the controls show is what runs
            self._status.set(Topic.ENHANCER, f"enhancer unavailable: {one_line(error)}")
            return
        self._status.set(Topic.ENHANCER, "")
        self.board.update(enhancer_ready=True)

    # ---- which faces -------------------------------------------------------------------------
    def set_face_mode(self, mode: str) -> None:
        check_face_mode(mode)
        self.board.update(face_mode=mode)
        self.note_face_mode(mode)

    def note_face_mode(self, mode: str) -> None:
        # Without reference photos "reference" matches no face: say so rather than leave the user
        # wondering why nothing is swapped.
        missing = mode == "reference" and not self.board.state.references
        self._status.set(Topic.FACES, "reference mode has no reference faces: nothing is swapped" if missing else "")

    def set_position(self, index: int) -> None:
        self.board.update(position=max(0, int(index)))

    def set_references(self, photos: tuple[Path, ...]) -> None:
        engine = self._attached()
        if engine is None:
            self._status.set(Topic.FACES, "reference photos can be set once the session is running")
            return
        paths = tuple(Path(p) for p in photos)

        def task() -> None:
            try:
                references = recognise(engine, [(p,) for p in paths])
            except Exception as error:  # noqa: BLE001 — keep the old references
                self._status.set(Topic.FACES, f"reference faces unchanged: {one_line(error)}")
                return
            self.board.update(references=references)
            self.note_face_mode(self.board.state.face_mode)

        self._side.submit(task)

    # ---- whose face --------------------------------------------------------------------------
    def set_active_source(self, index: int) -> None:
        count = len(self.board.state.identities)
        if index < 0 or (count and index >= count):
            self._status.set(Topic.CONTROLS, f"there is no source #{index + 1} (have {count})")
            return
        self._status.set(Topic.CONTROLS, "")
        self.board.update(active_source=int(index))

    def set_sources(self, identities: Groups) -> None:
        groups = tuple(tuple(Path(p) for p in group) for group in identities if group)
        with self._lock:
            engine = self._engine
            if engine is None:
                self._pending_groups = groups  # recognised by the start-up sequence
                return
        self._side.submit(lambda: self._replace_sources(engine, groups))

    def _replace_sources(self, engine: Engine, groups: Groups) -> None:
        """Side task: recognise new source photos (detector + recognizer runs) off the frame path."""
        self._status.set(Topic.SOURCES, "recognising the new source face(s)…")
        try:
            if not groups:
                raise InputError("no source face given")
            new = recognise(engine, groups)
        except Exception as error:  # noqa: BLE001 — keep swapping with the old faces
            self._status.set(Topic.SOURCES, f"source faces unchanged: {one_line(error)}")
            return
        active = self.board.state.active_source
        self.board.update(identities=new, active_source=active if active < len(new) else 0)
        self._status.set(Topic.SOURCES, "")
