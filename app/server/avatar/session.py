"""One avatar session: what it animates, its lip-sync stream state (kept across a client's reconnect),
and where it stands — waiting for a client, connected, or processing a chunk right now."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .source import AvatarSource


class SessionState(str, Enum):
    WAITING = "waiting"  # no client connected (just created, or its client left: the grace period runs)
    CONNECTED = "connected"  # a client is connected, between chunks
    PROCESSING = "processing"  # a chunk is being turned into video now


class CloseCode(int, Enum):
    """WebSocket close codes the avatar socket uses (4xxx: this API's own)."""

    NORMAL = 1000  # the stream ended (the client sent {"type": "end"}), or the session was deleted
    GOING_AWAY = 1001  # the server is stopping
    UNSUPPORTED = 1003  # a text message that is not one of the protocol's
    BAD_AUDIO = 1007  # an audio frame that cannot be decoded
    POLICY = 1008  # bad or missing token
    INTERNAL = 1011  # a bug: the server's log has it
    TRY_AGAIN_LATER = 1013  # closed to free memory (the memory ceiling)
    BAD_REQUEST = 4400  # bad socket parameters (format, rate, channels)
    NOT_FOUND = 4404  # no such session (never made, deleted, evicted, or its grace period ran out)
    REPLACED = 4409  # a newer connection to the same session took over (a client that reconnected)


@dataclass(frozen=True)
class Kick:
    code: CloseCode
    reason: str


@dataclass(eq=False)
class AvatarSession:
    id: str
    source: AvatarSource
    weight: float
    folder: Path | None = None  # the upload's folder (removed with the session); None for a server path
    created_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)  # LRU order
    state: SessionState = SessionState.WAITING
    waiting_since: float = field(default_factory=time.monotonic)
    stream_state: dict[str, object] = field(default_factory=dict, repr=False)  # the engine's, per stream
    clock: float = 0.0  # seconds of video made over all its streams: the mouth smoothing's clock
    streams: int = 0  # connections served
    closed: bool = False
    _kick: asyncio.Event | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    kick_reason: Kick | None = None

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def connect(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        self._loop, self._kick = loop, asyncio.Event()
        self.kick_reason = None
        self.state = SessionState.CONNECTED
        self.streams += 1
        self.touch()
        return self._kick

    def disconnect(self) -> None:
        self._kick = self._loop = None
        self.state = SessionState.WAITING
        self.waiting_since = time.monotonic()
        self.touch()

    def kick(self, kick: Kick) -> None:
        """Ask the connected client's handler to close its socket with `kick` (any thread)."""
        self.kick_reason = kick
        event, loop = self._kick, self._loop
        if event is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: nothing to tell
                loop.call_soon_threadsafe(event.set)

    def release(self) -> None:
        """Free what the session holds (its decoder, its uploaded file)."""
        self.closed = True
        self.source.close()
        self.stream_state.clear()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state.value, "kind": self.source.kind.value,
                "width": self.source.width, "height": self.source.height, "fps": self.source.fps,
                "weight": self.weight, "created_at": self.created_at, "streams": self.streams,
                "idle_s": round(time.monotonic() - self.last_used, 3)}
