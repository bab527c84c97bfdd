"""Avatar sessions of one server: created under a lock, the lip-sync engine loaded once and shared, at
most `max_sessions` of them, and a process memory ceiling (memory.py) watched on every creation and
every `check_s`.

- Full (max_sessions): the least recently used session no client is connected to is closed to make
  room; when every one has a client, the new one is refused (503 sessions_full).
- Memory ≥ 80 %: sessions without a client are closed; ≥ 100 %: also gc.collect() and new sessions
  refused (503 memory_full, one line); ≥ 120 %: every session not processing a chunk is closed (its
  client gets close code 1013, try again later).
- A client that goes away leaves its session waiting for `grace_s`: reconnecting within it resumes the
  same session (its place in the loop, the mouth's smoothing); after it the session is gone. A session
  nobody ever connects to goes the same way.

Table changes happen under one threading lock (creation runs on a worker thread, the rest on the
event loop); the heavy part of a creation (loading the engine, decoding the photo, finding its face)
runs before the lock is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from engines.errors import SwapCastError

from ..envelope import ApiError, ErrorCode
from .memory import MemoryCeiling, MemoryLevel, MemoryReading, default_ceiling
from .renderer import Renderer, load_renderer
from .session import AvatarSession, CloseCode, Kick, SessionState
from .source import AvatarSource, SourceKind

_log = logging.getLogger(__name__)

MIB = 1024**2
EVICTED_SHOWN = 50
TAKEOVER_TIMEOUT_S = 30.0  # a connection being replaced finishes its chunk first
TAKEOVER_POLL_S = 0.01
MEMORY_KICK = Kick(CloseCode.TRY_AGAIN_LATER,
                   "closed to free memory (the server's memory ceiling) — create a new session in a while")
DELETED_KICK = Kick(CloseCode.NORMAL, "the session was deleted")
REPLACED_KICK = Kick(CloseCode.REPLACED, "a newer connection took this session over")
STOPPING_KICK = Kick(CloseCode.GOING_AWAY, "the server is stopping — create a new session when it is back")


class Eviction(str, Enum):
    """Why the server closed a session by itself."""

    LEAST_RECENTLY_USED = "least_recently_used"  # room for a new one at max_sessions
    GRACE_PERIOD = "grace_period"  # no client came back in time
    MEMORY = "memory"  # the memory ceiling


@dataclass(frozen=True)
class AvatarSettings:
    max_sessions: int = 4
    memory_ceiling_bytes: int | None = None  # None: half the machine's memory
    grace_s: float = 60.0  # a session without a client lives this long (reconnect within it to resume)
    heartbeat_s: float = 20.0  # the socket's heartbeat message (15–30 s suits proxies; tests use less)
    check_s: float = 1.0  # how often the memory level and the grace periods are checked
    fps: int = 25  # a photo's frame rate (a loop keeps its own)


class AvatarManager:
    def __init__(self, settings: AvatarSettings | None = None, renderer: Callable[[], Renderer] = load_renderer,
                 memory: MemoryCeiling | None = None) -> None:
        self.settings = settings or AvatarSettings()
        self.memory = memory or MemoryCeiling(self.settings.memory_ceiling_bytes or default_ceiling())
        self._load_renderer = renderer
        self._renderer: Renderer | None = None
        self._renderer_lock = threading.Lock()
        self._lock = threading.Lock()
        self._sessions: dict[str, AvatarSession] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # The latest sessions the server closed by itself (id, why), oldest first: GET shows them, so a client
        # whose session is gone can tell why.
        self.evicted: deque[dict[str, str]] = deque(maxlen=EVICTED_SHOWN)

    # ---- the shared engine -------------------------------------------------------------------------
    def renderer(self) -> Renderer:
        """The lip-sync engine, loaded on first use and shared by every session."""
        with self._renderer_lock:
            if self._renderer is None:
                try:
                    self._renderer = self._load_renderer()
                except SwapCastError as error:
                    raise ApiError(503, ErrorCode.UNAVAILABLE,
                                   f"the lip-sync engine cannot load: {error.one_line()}") from None
            return self._renderer

    # ---- sessions ----------------------------------------------------------------------------------
    def create(self, path: Path, kind: SourceKind, *, fps: int, weight: float,
               folder: Path | None = None) -> AvatarSession:
        """A new session animating `path` (blocking: call on a worker thread). 503 at the memory ceiling
        or when every session has a client; 422 when the picture has no face; 415 when it cannot be read."""
        source: AvatarSource | None = None
        try:
            self.admit()
            renderer = self.renderer()
            try:
                source = AvatarSource(path, kind, fps)
            except SwapCastError as error:
                raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA, error.one_line()) from None
            if renderer.faces_in(source.first) == 0:
                what = "photo" if kind is SourceKind.PHOTO else "loop's first frame"
                raise ApiError(422, ErrorCode.NO_FACE,
                               f"no face found in the {what} — send a picture where one face is clearly visible, "
                               "front-facing and not too small")
            session = AvatarSession(id=uuid.uuid4().hex, source=source, weight=weight, folder=folder)
            with self._lock:
                self._make_room()
                self._sessions[session.id] = session
            return session
        except BaseException:
            if source is not None:
                source.close()
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def _make_room(self) -> None:
        """Under the lock: close the least recently used waiting session if the table is full."""
        if len(self._sessions) < self.settings.max_sessions:
            return
        waiting = [s for s in self._sessions.values() if s.state is SessionState.WAITING]
        if not waiting:
            raise ApiError(503, ErrorCode.SESSIONS_FULL,
                           f"all {self.settings.max_sessions} avatar sessions have a client connected — "
                           "close one (DELETE /api/avatar/sessions/ID), try again later, or allow more "
                           "(swapcast serve --avatar-sessions N)")
        oldest = min(waiting, key=lambda s: s.last_used)
        self._remove(oldest, None)
        self.evicted.append({"id": oldest.id, "reason": Eviction.LEAST_RECENTLY_USED.value})
        _log.info("avatar session %s closed to make room (least recently used)", oldest.id)

    def delete(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise not_found(session_id)
            self._remove(session, DELETED_KICK)

    def sessions(self) -> list[AvatarSession]:
        with self._lock:
            return sorted(self._sessions.values(), key=lambda s: s.created_at)

    def _remove(self, session: AvatarSession, kick: Kick | None) -> None:
        """Under the lock: out of the table; freed now, or by its connection's handler once it lets go."""
        del self._sessions[session.id]
        if session.state is SessionState.WAITING:
            session.release()
        else:
            session.kick(kick or MEMORY_KICK)

    # ---- a client's connection -----------------------------------------------------------------------
    async def attach(self, session_id: str) -> tuple[AvatarSession, asyncio.Event]:
        """A client connects: (its session, the event set when the server closes it); ApiError 404.

        A session still held by an earlier connection is taken over: a client that reconnects after its
        network dropped is often faster than the server is to notice the old connection died. The old
        one is closed (4409) once its current chunk is done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAKEOVER_TIMEOUT_S
        while True:
            with self._lock:
                session = self._sessions.get(session_id)
                if session is None:
                    raise not_found(session_id)
                if session.state is SessionState.WAITING:
                    return session, session.connect(loop)
                if session.kick_reason is None:
                    session.kick(REPLACED_KICK)
            if loop.time() > deadline:
                raise ApiError(409, ErrorCode.CONFLICT, f"avatar session {session_id} is still busy with another "
                               "connection — try again in a moment")
            await asyncio.sleep(TAKEOVER_POLL_S)

    def detach(self, session: AvatarSession) -> None:
        """The client's connection ended: the session waits for a reconnect, or is freed if it was closed."""
        with self._lock:
            if self._sessions.get(session.id) is session:
                session.disconnect()
            elif not session.closed:
                session.release()

    def processing(self, session: AvatarSession, busy: bool) -> None:
        with self._lock:
            if session.state is not SessionState.WAITING:
                session.state = SessionState.PROCESSING if busy else SessionState.CONNECTED
            session.touch()

    # ---- memory and grace periods --------------------------------------------------------------------
    def admit(self) -> None:
        """503 memory_full at the ceiling (after closing what the levels close): asked before an upload
        is read, and again before the session is made."""
        reading = self.check()
        if reading.level >= MemoryLevel.FULL:
            raise ApiError(503, ErrorCode.MEMORY_FULL,
                           f"the server is at its memory ceiling ({reading.used / MIB:.0f} of "
                           f"{reading.ceiling / MIB:.0f} MiB) — try again when sessions have ended, or raise the "
                           "ceiling (swapcast serve --avatar-memory-mb N)")

    def check(self) -> MemoryReading:
        """Close sessions whose grace period ran out, then act on the memory level (see the module's text)."""
        now = time.monotonic()
        with self._lock:
            for session in [s for s in self._sessions.values() if s.state is SessionState.WAITING
                            and now - s.waiting_since > self.settings.grace_s]:
                self._remove(session, None)
                self.evicted.append({"id": session.id, "reason": Eviction.GRACE_PERIOD.value})
                _log.info("avatar session %s closed: no client for %g s", session.id, self.settings.grace_s)
        reading = self.memory.read()
        if reading.level >= MemoryLevel.HIGH:
            self._close_where(lambda s: s.state is SessionState.WAITING)
        if reading.level >= MemoryLevel.FULL:
            gc.collect()
            reading = self.memory.read()
        if reading.level >= MemoryLevel.CRITICAL:
            self._close_where(lambda s: s.state is not SessionState.PROCESSING)
        return reading

    def _close_where(self, condition: Callable[[AvatarSession], bool]) -> None:
        with self._lock:
            for session in [s for s in self._sessions.values() if condition(s)]:
                self._remove(session, MEMORY_KICK)
                self.evicted.append({"id": session.id, "reason": Eviction.MEMORY.value})
                _log.warning("avatar session %s closed: the process is near its memory ceiling", session.id)

    def status(self) -> dict[str, Any]:
        reading = self.memory.read()
        return {"sessions": [s.describe() for s in self.sessions()], "max_sessions": self.settings.max_sessions,
                "evicted": list(self.evicted),
                "memory": {"used_mb": round(reading.used / MIB, 1), "ceiling_mb": round(reading.ceiling / MIB, 1),
                           "percent": round(reading.percent, 1), "level": reading.level.name.lower()}}

    # ---- life --------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Begin the periodic check (idempotent; on the server's loop)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="avatar-sessions")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_s)
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # a failed reading must not end the checks
                _log.exception("the avatar sessions' check failed")

    async def stop(self) -> None:
        """Server shutdown: stop the checks, close every session (clients get 1001)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        with self._lock:
            for session in list(self._sessions.values()):
                self._remove(session, STOPPING_KICK)


def not_found(session_id: str) -> ApiError:
    return ApiError(404, ErrorCode.SESSION_NOT_FOUND,
                    f"no avatar session {session_id!r} (never made, deleted, or closed after its grace period) — "
                    "create one with POST /api/avatar/sessions")
