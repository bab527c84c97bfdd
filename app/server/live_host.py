"""The server's handle on the live session: start/stop it, change its controls, read its stats and
latest frame — through app.pipeline's session API, the interface the CLI and the GUI use.

At most one session per server. Every method is thread-safe and returns JSON-ready dicts: routes
(routes/live.py, routes/sources.py) call it, and the status endpoint and the event stream read
`snapshot()` (cheap: one stats snapshot, no waiting).

A session the server did not start can be followed with `attach()`: the studio's "Allow remote control"
attaches the session its window runs, so the API reads and drives that one. While attached, requests
act on the session directly (its control methods are thread-safe) and `on_change` is called after each
change (on the server's thread: the studio queues it to its own); `POST /api/live/start` is refused and
`stop` is handed to the owner (`on_stop`), which stops the session its own way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.pipeline.api import LiveConfig, SessionState
from app.pipeline.controls import check_face_mode
from app.pipeline.preflight import check_outputs
from app.pipeline.session import LiveSession
from app.pipeline.stats import to_jsonable
from app.pipeline.status import Topic
from engines.errors import SwapCastError

from .envelope import ApiError, ErrorCode


FINAL = (SessionState.STOPPED, SessionState.FAILED)
STOP_TIMEOUT_S = 30.0  # a recording's encoder flush and faststart rewrite can take a few seconds
SOURCE_WAIT_S = 30.0  # new source photos are recognised off the frame path; how long a switch waits
POLL_S = 0.02
JPEG_QUALITY = 80

SessionFactory = Callable[[LiveConfig], LiveSession]


def recording_url(name: str) -> str:
    """GET it (viewer) for the recording called `name` in the server's recordings folder (routes/live.py)."""
    return f"/api/live/recordings/{quote(name)}"

STUDIO_OWNS = "the studio is running the live session — stop it there or use /controls and /source"


@dataclass(frozen=True)
class Owner:
    """Who runs a session the host follows but did not start, and how to tell them about API changes."""

    on_change: Callable[[dict[str, Any]], None]  # the new control state, after a request changed it
    on_stop: Callable[[], None]  # POST /api/live/stop: the owner stops its session (must not block)
    name: str = "studio"


@dataclass(frozen=True)
class ControlChanges:
    """What `POST /api/live/controls` may change; None leaves a control as it is."""

    swap: bool | None = None  # False: bypass (the camera's own picture passes through)
    mirror: bool | None = None
    enhancer: bool | None = None
    mouth_mask: bool | None = None
    face_mode: str | None = None  # a live FaceSelection: largest | all | position | reference
    position: int | None = None  # face_mode "position": which face, left to right from 0
    enhance_blend: float | None = None  # 0..1


class _Preview:
    """The newest swapped frame (a read-only view kept by reference, as the GUI does) and its JPEG,
    encoded on demand and only once per frame however many viewers ask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._encoded: tuple[int, bytes] | None = None

    def listener(self, frame: np.ndarray, captured_at: float) -> None:
        with self._lock:
            self._frame = frame
            self._seq += 1

    def jpeg(self) -> bytes | None:
        with self._lock:
            frame, seq, encoded = self._frame, self._seq, self._encoded
        if frame is None:
            return None
        if encoded is not None and encoded[0] == seq:
            return encoded[1]
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return None
        data = buffer.tobytes()
        with self._lock:
            if self._seq == seq:
                self._encoded = (seq, data)
        return data


class LiveHost:
    """At most one live session per server."""

    def __init__(self, session_factory: SessionFactory | None = None) -> None:
        self._factory: SessionFactory = session_factory or LiveSession
        self._lock = threading.Lock()  # the session pointer and the source names
        self._switch_lock = threading.Lock()  # one source switch at a time (each may wait for recognition)
        self._session: LiveSession | None = None
        self._names: list[str] = []  # the session's identities, in its order
        self._groups: list[tuple[Path, ...]] = []  # and their photos
        self._preview = _Preview()
        self._unsubscribe: Callable[[], None] | None = None
        self._record: Path | None = None
        self._started_at: float | None = None
        self._owner: Owner | None = None  # set while following a session someone else runs
        self._run_by = "api"  # who ran the latest session: "api", or the owner's name (kept after a detach)

    # ---- life cycle --------------------------------------------------------------------------------
    def _running(self) -> LiveSession | None:
        session = self._session
        return session if session is not None and session.state not in FINAL else None

    @property
    def has_run(self) -> bool:
        return self._session is not None

    def require_running(self) -> None:
        """ApiError 409 unless a session is starting or running."""
        self._require()

    def _require(self) -> LiveSession:
        session = self._running()
        if session is None:
            raise ApiError(409, ErrorCode.LIVE_NOT_RUNNING,
                           "no live session is running — start one with POST /api/live/start")
        return session

    def check_can_start(self) -> None:
        """409 while a session runs: the studio's (stop it there), or one started over the API."""
        if self._running() is None:
            return
        if self._owner is not None:
            raise ApiError(409, ErrorCode.CONFLICT, STUDIO_OWNS)
        raise ApiError(409, ErrorCode.CONFLICT, "a live session is already running — stop it first (POST /api/live/stop)")

    def start(self, config: LiveConfig, names: tuple[str, ...]) -> dict[str, Any]:
        """Start a session with `config` (its identities named `names`). 409 when one is running;
        400 with the one-line reason when the preflight refuses (unwritable folder, no virtual camera)."""
        with self._lock:
            self.check_can_start()
            try:
                check_face_mode(config.face_mode)
                check_outputs(config)  # the same refusal the CLI gives, before models load
                session = self._factory(config)
            except SwapCastError as error:
                raise ApiError(400, ErrorCode.INVALID_REQUEST, error.one_line()) from None
            except ValueError as error:  # a stream URL the outputs cannot send to
                raise ApiError(400, ErrorCode.INVALID_REQUEST, str(error)) from None
            self._detach()
            self._owner, self._run_by = None, "api"
            self._preview = _Preview()
            self._unsubscribe = session.add_preview_listener(self._preview.listener)
            self._names = list(names)
            self._groups = list(config.identities)
            self._record = config.record_path
            self._started_at = time.time()
            self._session = session
            session.start()  # returns at once: models load and the camera opens on the session's threads
        return self.snapshot() or {}

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
        """Stop the running session (the recording is finalised) and return its final snapshot. A followed
        session is stopped by its owner (the studio: so its window shows it stopped); this waits for that."""
        session = self._require()
        owner = self._owner
        if owner is not None:
            owner.on_stop()
        else:
            session.stop(timeout=timeout)
        session.wait(timeout=timeout)
        with self._lock:
            if self._session is session:
                self._detach()
        return self.snapshot() or {}

    def close(self) -> None:
        """Server shutdown: stop a running session, quietly — never one the host only follows."""
        with self._lock:
            owned = self._run_by == "api"  # a detached studio session is still the studio's
        session = self._running()
        if session is not None and owned:
            session.stop(timeout=STOP_TIMEOUT_S)
        self._detach()

    # ---- following a session someone else runs (the studio) ---------------------------------------
    def attach(self, session: LiveSession, names: tuple[str, ...], groups: tuple[tuple[Path, ...], ...],
               owner: Owner) -> None:
        """Follow `session` (run by `owner`, its identities named `names`): the API reads and drives it
        from now on. A session this host started itself and still runs keeps running unobserved."""
        with self._lock:
            self._detach()
            self._preview = _Preview()
            self._unsubscribe = session.add_preview_listener(self._preview.listener)
            self._names, self._groups = list(names), list(groups)
            self._record = session.config.record_path
            self._started_at = time.time()
            self._session = session
            self._owner, self._run_by = owner, owner.name

    def update_sources(self, names: tuple[str, ...], groups: tuple[tuple[Path, ...], ...]) -> None:
        """The owner changed the followed session's identities (the studio's gallery changed)."""
        with self._lock:
            if self._owner is not None:
                self._names, self._groups = list(names), list(groups)

    def detach(self) -> None:
        """Stop following; the last snapshot stays readable (the session's final state)."""
        with self._lock:
            self._detach()
            self._owner = None

    @property
    def attached(self) -> bool:
        return self._owner is not None

    def require_own_session(self) -> None:
        """409 while the host follows the studio's session: a face new to it must be added in the studio
        (its gallery is what the session's sources are named after)."""
        if self._owner is not None and self._running() is not None:
            raise ApiError(409, ErrorCode.CONFLICT,
                           f"the studio is running the live session — add the face in its Source faces panel, "
                           f"then switch to it by name (it has: {', '.join(self.source_names) or 'none'})")

    def _changed(self) -> dict[str, Any]:
        """The new control state, told to the owner of a followed session."""
        state = self.controls()
        owner = self._owner
        if owner is not None:
            owner.on_change(state)
        return state

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- sources -----------------------------------------------------------------------------------
    @property
    def source_names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._names)

    def activate(self, index: int) -> dict[str, Any]:
        """Make the session's identity #index (from 0) the active one."""
        session = self._require()
        count = len(session.controls.board.state.identities) or len(self.source_names)
        if not 0 <= index < count:
            raise ApiError(404, ErrorCode.SOURCE_NOT_FOUND,
                           f"there is no source #{index} in the session (it has {count}, numbered from 0) — "
                           "see live.controls.sources in GET /api/status")
        session.set_active_source(index)
        return self._changed()

    def activate_name(self, name: str) -> dict[str, Any] | None:
        """Switch to the session's identity called `name`; None when the session has none by that name.
        Following the studio's session, its gallery is the only place names come from: 404 otherwise."""
        wanted = name.strip().casefold()
        index = next((i for i, n in enumerate(self.source_names) if n.casefold() == wanted), None)
        if index is None and self._owner is not None and self._running() is not None:
            raise ApiError(404, ErrorCode.SOURCE_NOT_FOUND,
                           f"no source named {name!r} in the studio — it has: {', '.join(self.source_names) or 'none'}"
                           " (add the face in its Source faces panel)")
        return None if index is None else self.activate(index)

    def add_and_activate(self, name: str, photos: tuple[Path, ...], wait_s: float = SOURCE_WAIT_S) -> dict[str, Any]:
        """Add an identity to the running session and switch to it once its photos are recognised
        (off the frame path: frames keep flowing with the old face meanwhile). 400 with the reason
        when no face is found in them; 503 when recognition takes longer than `wait_s`."""
        with self._switch_lock:
            session = self._require()
            self.require_own_session()
            before = session.controls.board.state.identities
            with self._lock:
                names, groups = list(self._names), list(self._groups)
            wanted = len(groups) + 1
            session.status.set(Topic.SOURCES, "")  # an earlier switch's failure is not this one's
            session.set_sources((*groups, tuple(photos)))
            deadline = time.monotonic() + wait_s
            while True:
                identities = session.controls.board.state.identities
                if len(identities) == wanted and identities is not before:
                    break
                message = session.message
                if "source faces unchanged" in message:
                    raise ApiError(400, ErrorCode.INVALID_REQUEST,
                                   f"source {name!r} not used: {message.split('source faces unchanged: ', 1)[-1]}"
                                   " — send a clear photo of one face")
                if session.state in FINAL:
                    raise ApiError(409, ErrorCode.LIVE_NOT_RUNNING, "the live session ended meanwhile — start it again")
                if time.monotonic() > deadline:
                    raise ApiError(503, ErrorCode.UNAVAILABLE,
                                   f"source {name!r} is still being recognised after {wait_s:g} s — "
                                   "switch to it again in a moment")
                time.sleep(POLL_S)  # recognition runs on the session's side-task thread
            with self._lock:
                self._names, self._groups = [*names, name], [*groups, tuple(photos)]
            session.set_active_source(wanted - 1)
            return self.controls()

    # ---- controls ----------------------------------------------------------------------------------
    def set_controls(self, changes: ControlChanges) -> dict[str, Any]:
        """Apply `changes` (all checked first: a bad face mode changes nothing); the new control state."""
        session = self._require()
        if changes.face_mode is not None:
            try:
                check_face_mode(changes.face_mode)
            except SwapCastError as error:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, f"face_mode: {error.one_line()}") from None
        if changes.enhance_blend is not None and not 0.0 <= changes.enhance_blend <= 1.0:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, "enhance_blend must be between 0 and 1 — e.g. 0.8")
        if changes.swap is not None:
            session.set_bypass(not changes.swap)
        if changes.mirror is not None:
            session.set_mirror(changes.mirror)
        if changes.mouth_mask is not None:
            session.set_mouth_mask(changes.mouth_mask)
        if changes.enhance_blend is not None:
            session.set_enhance_blend(changes.enhance_blend)
        if changes.position is not None:
            session.set_position(changes.position)
        if changes.face_mode is not None:
            session.set_face_mode(changes.face_mode)
        if changes.enhancer is not None:
            session.set_enhance(changes.enhancer)  # the model loads off the frame path; refused: back to off
        return self._changed()

    def controls(self) -> dict[str, Any]:
        session = self._session
        if session is None:
            return {}
        state = session.controls.board.state
        names = self.source_names
        active = state.active_source
        return {
            "swap": not state.bypass, "mirror": state.mirror, "enhancer": state.enhance,
            "enhancer_running": state.enhancing, "mouth_mask": state.mouth_mask, "face_mode": state.face_mode,
            "position": state.position, "enhance_blend": state.enhance_blend,
            "active_source": active, "active_source_name": names[active] if 0 <= active < len(names) else None,
            "sources": list(names),
        }

    # ---- observation -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any] | None:
        """The session's state and stats, JSON-ready (fps, p50/p95 latency, drops, outputs); None when
        no session has run."""
        session = self._session
        if session is None:
            return None
        stats = session.stats()
        outputs = [{**to_jsonable(output), "never_worked": output.never_worked} for output in stats.outputs]
        return {
            "state": stats.state.value, "message": stats.message, "camera": session.config.camera,
            "run_by": self._run_by,
            "started_at": self._started_at,
            "fps_in": stats.fps_in, "fps_out": stats.fps_out,
            "latency_ms_p50": stats.latency_ms_p50, "latency_ms_p95": stats.latency_ms_p95,
            "dropped": stats.dropped, "frames": stats.frames, "stages_ms": dict(stats.stages_ms),
            "outputs": outputs,
            "recording": self._record.name if self._record is not None else None,
            "recording_url": self._recording_url(),
            "engine": to_jsonable(stats.engine) if stats.engine is not None else None,
            "controls": self.controls(),
        }

    def _recording_url(self) -> str | None:
        """Where a finished recording of a session started over the API downloads from (the studio's
        recordings are the studio's: in its own folder, not served)."""
        record = self._record
        if record is None or self._run_by != "api" or not record.is_file():
            return None
        return recording_url(record.name)

    def preview_jpeg(self) -> bytes | None:
        """The newest swapped frame as JPEG; None before the first one (or when no session ran)."""
        if self._session is None:
            return None
        return self._preview.jpeg()
