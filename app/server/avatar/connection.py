"""The avatar WebSocket's protocol, one connection at a time.

Client → server: binary frames of audio (audio_in.py: PCM16 at the rate/channels of the query, or
Opus in Ogg/WebM); text `{"type": "end"}` when the speech is over.
Server → client (text messages shaped as /api/events' `{"type", "data", "time"}`): `ready` first (the
session, the picture's size and rate, the MIME type for MediaSource); binary frames of fragmented MP4
(the init segment, then one fragment per chunk, as each is made); `heartbeat` ({"interval_s": S})
every heartbeat_s; after the client's `end`, the last bytes and `end` ({"frames": N, "audio_s": S}),
then close 1000.

A chunk is processed to the end before the next message is read (TCP backpressure paces a client that
sends faster than the engine runs) and before a close the server asked for (a deleted session).
Every close has a code from session.CloseCode and a one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from app.media.fragmented import MIME_TYPE

from ..envelope import ApiError
from ..websocket_close import close_reason
from .audio_in import AudioSpec, BadAudio, decoder_for
from .manager import AvatarManager
from .session import AvatarSession, CloseCode, Kick
from .stream import AvatarStream

_log = logging.getLogger(__name__)


class _Connection:
    def __init__(self, websocket: WebSocket, manager: AvatarManager, session: AvatarSession, spec: AudioSpec) -> None:
        self.websocket = websocket
        self.manager = manager
        self.session = session
        self.stream = AvatarStream(session, manager.renderer(), decoder_for(spec))
        self._send_lock = asyncio.Lock()

    async def send_json(self, kind: str, **data: Any) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps({"type": kind, "data": data, "time": time.time()}))

    async def send_bytes(self, data: bytes) -> None:
        if data:
            async with self._send_lock:
                await self.websocket.send_bytes(data)

    async def close(self, kick: Kick) -> None:
        with contextlib.suppress(Exception):  # the client may be gone already
            async with self._send_lock:
                await self.websocket.close(code=int(kick.code), reason=close_reason(kick.reason))

    async def heartbeat(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.send_json("heartbeat", interval_s=interval_s)

    async def work(self, call: Any, *args: Any) -> bytes:
        """A blocking step of the stream on a worker thread, the session marked as processing meanwhile."""
        self.manager.processing(self.session, True)
        try:
            return await asyncio.to_thread(call, *args)
        finally:
            self.manager.processing(self.session, False)

    async def serve(self, kicked: asyncio.Event) -> Kick | None:
        """Read and answer until the stream ends or the server closes it; the close to send (None: the client left)."""
        kick_wait = asyncio.create_task(kicked.wait())
        try:
            while True:
                receive = asyncio.create_task(self.websocket.receive())
                await asyncio.wait({receive, kick_wait}, return_when=asyncio.FIRST_COMPLETED)
                if kicked.is_set():
                    receive.cancel()
                    return self.session.kick_reason
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    return None
                if message.get("bytes") is not None:
                    try:
                        await self.send_bytes(await self.work(self.stream.feed, message["bytes"]))
                    except BadAudio as error:
                        return Kick(CloseCode.BAD_AUDIO, str(error))
                    continue
                if _is_end(message.get("text")):
                    try:
                        await self.send_bytes(await self.work(self.stream.finish))
                    except BadAudio as error:
                        return Kick(CloseCode.BAD_AUDIO, str(error))
                    totals = self.stream.totals
                    await self.send_json("end", frames=totals.frames, audio_s=totals.audio_s)
                    return Kick(CloseCode.NORMAL, "the stream ended")
                return Kick(CloseCode.UNSUPPORTED, 'text messages are {"type": "end"} only — send audio as binary '
                            "frames")
        finally:
            kick_wait.cancel()


def _is_end(text: str | None) -> bool:
    try:
        message = json.loads(text or "")
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "end"


async def serve_avatar(websocket: WebSocket, manager: AvatarManager, session_id: str) -> None:
    """The socket is authenticated already and not yet accepted."""
    query = websocket.query_params
    refusal: Kick | None = None
    try:
        spec = AudioSpec.parse(query.get("format"), query.get("rate"), query.get("channels"))
    except BadAudio as error:
        refusal = Kick(CloseCode.BAD_REQUEST, str(error))
    session: AvatarSession | None = None
    if refusal is None:
        try:
            session, kicked = await manager.attach(session_id)
        except ApiError as error:
            code = CloseCode.NOT_FOUND if error.status == 404 else CloseCode.TRY_AGAIN_LATER
            refusal = Kick(code, error.message)
    await websocket.accept()
    if refusal is not None or session is None:
        await websocket.close(code=int(refusal.code), reason=close_reason(refusal.reason))  # type: ignore[union-attr]
        return
    connection: _Connection | None = None
    heartbeat: asyncio.Task[None] | None = None
    ending: Kick | None = None
    try:
        connection = _Connection(websocket, manager, session, spec)
        source = session.source
        await connection.send_json("ready", session=session.id, width=source.width, height=source.height,
                                   fps=source.fps, mime=MIME_TYPE,
                                   heartbeat_s=manager.settings.heartbeat_s, resumed=session.streams > 1)
        heartbeat = asyncio.create_task(connection.heartbeat(manager.settings.heartbeat_s))
        ending = await connection.serve(kicked)
    except (WebSocketDisconnect, OSError):  # the client went away while being sent to
        ending = None
    except Exception:
        _log.exception("avatar session %s: the stream failed", session.id)
        ending = Kick(CloseCode.INTERNAL, "the stream failed on the server — its log has the details; reconnect")
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        if connection is not None:
            connection.stream.abort()
        manager.detach(session)
    if ending is not None and connection is not None:
        await connection.close(ending)
    elif ending is not None:
        with contextlib.suppress(Exception):
            await websocket.close(code=int(ending.code), reason=close_reason(ending.reason))
