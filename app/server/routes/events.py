"""`WebSocket /api/events` (viewer): job progress and state changes, live stats, engine health, heartbeats.

Each message is JSON: `{"type": "job"|"live"|"health"|"heartbeat", "data": {...}, "time": UNIX_SECONDS}`.
A `job` message's data: id, kind (added|state|progress|warning|removed), state, done, total, progress
(0..1), fps, eta_s, message (the error, warning or output; an admin sees the output's path on the
server, other roles its file name, and paths in errors reduced to file names). The token goes in the Authorization
header or, for browsers, `?token=`. A bad token: the socket is accepted and closed at once with 1008
and a reason naming the fix (a refused handshake would reach a browser as a bare "failed").
A client that stops reading is dropped (1008) instead of being buffered without bound (events/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, WebSocket

from ..auth import authenticate_websocket
from ..envelope import ApiError
from ..events.outbox import Subscriber
from ..public_paths import sees_paths
from ..roles import Role
from ..websocket_close import POLICY_VIOLATION, close_reason


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.context.hub.stop()


router = APIRouter(tags=["events"], lifespan=_lifespan)


@router.websocket("/api/events")
async def events(websocket: WebSocket) -> None:
    context = websocket.app.state.context
    try:
        token = authenticate_websocket(websocket, Role.VIEWER)
    except ApiError as error:
        await websocket.accept()
        await websocket.close(code=POLICY_VIOLATION, reason=close_reason(error.message))
        return
    hub = context.hub
    await hub.start(context)  # before accept: what the client is sent starts after this point
    await websocket.accept()
    subscriber = hub.subscribe(sees_paths(token.role))
    sender = asyncio.create_task(_send(websocket, subscriber))
    reader = asyncio.create_task(_read_until_disconnect(websocket))
    dropped = asyncio.create_task(subscriber.dropped_by_hub.wait())
    try:
        await asyncio.wait({sender, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.unsubscribe(subscriber)
        for task in (sender, reader, dropped):
            task.cancel()
        await asyncio.gather(sender, reader, dropped, return_exceptions=True)
    if subscriber.dropped_by_hub.is_set() and not reader.done():
        # A client that never reads cannot take the close frame either (the socket's buffers are
        # full): give up after a moment; returning closes the transport, which holds only its bounded buffer.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=subscriber.close_code,
                                                   reason=close_reason(subscriber.close_reason)),
                                   timeout=hub.close_timeout_s)


async def _send(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        message = await subscriber.outbox.get()
        await websocket.send_text(message.text_for(subscriber))


async def _read_until_disconnect(websocket: WebSocket) -> None:
    """Clients have nothing to say (messages are ignored), but reading is how a disconnect is seen."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
