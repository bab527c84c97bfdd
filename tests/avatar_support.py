"""Helpers for the avatar-session tests: a server with the kit's lip-sync engine and small limits, a
session made from the kit's face photo, and a WebSocket client that streams speech and keeps what
comes back (JSON messages, fMP4 bytes, the close code and reason)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.server.avatar.manager import AvatarManager, AvatarSettings
from app.server.roles import Role
from server_support import RunningServer, make_context, serve_context

CHUNK_S = 0.2


@pytest.fixture()
def samples(kit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kit's sample pictures, with the engine finding the kit's models (its lip syncer among them)."""
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    return kit_dir / "samples"


@contextmanager
def avatar_server(root: Path, **settings: Any) -> Iterator[RunningServer]:
    context = make_context(root, allow_paths=(root,))
    defaults: dict[str, Any] = {"heartbeat_s": 15.0, "check_s": 0.05, "grace_s": 30.0}
    context.avatars = AvatarManager(AvatarSettings(**{**defaults, **settings}))
    with serve_context(context) as running:
        yield running


def create(client: httpx.Client, photo: Path, **fields: Any) -> httpx.Response:
    return client.post("/api/avatar/sessions", data={k: str(v) for k, v in fields.items()},
                       files=[("photo", (photo.name, photo.read_bytes(), "image/png"))])


def create_ok(client: httpx.Client, photo: Path, **fields: Any) -> str:
    answer = create(client, photo, **fields)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def refusal(answer: httpx.Response, status: int, code: str) -> str:
    """The error's message, once the answer is `status` with `code` and a one-line message."""
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and "\n" not in error["message"]
    return str(error["message"])


def session_ids(client: httpx.Client) -> list[str]:
    answer = client.get("/api/avatar/sessions")
    assert answer.status_code == 200, answer.text
    return [s["id"] for s in answer.json()["data"]["sessions"]]


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def socket_url(server: RunningServer, session_id: str, role: Role = Role.OPERATOR, **query: Any) -> str:
    params = "".join(f"&{k}={v}" for k, v in query.items())
    return f"{server.ws_url}/api/avatar/sessions/{session_id}?token={server.tokens[role]}{params}"


@dataclass
class Received:
    messages: list[dict[str, Any]] = field(default_factory=list)
    video: bytearray = field(default_factory=bytearray)
    binary_before_end: int = 0  # binary messages that came while audio was still being sent
    close_code: int | None = None
    close_reason: str = ""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m["data"] for m in self.messages if m["type"] == kind]


async def _drain(socket: ClientConnection, received: Received, ended: asyncio.Event) -> None:
    try:
        async for message in socket:
            if isinstance(message, bytes):
                received.video += message
                if not ended.is_set():
                    received.binary_before_end += 1
            else:
                received.messages.append(json.loads(message))
    except ConnectionClosed:
        pass
    received.close_code = socket.close_code
    received.close_reason = socket.close_reason or ""


async def stream_audio(url: str, chunks: list[bytes], *, then: str = "end", fragments: int | None = None) -> Received:
    """Send `chunks` as binary frames, then: "end" ({"type": "end"}, and read until the server closes),
    "leave" (close from this side), or "wait" (read until the server closes: after bad input)."""
    received = Received()
    ended = asyncio.Event()
    async with connect(url, max_size=None) as socket:
        reader = asyncio.create_task(_drain(socket, received, ended))
        for chunk in chunks:
            await socket.send(chunk)
        if then == "end":
            # The stream is made as it goes: a fragment comes back for each chunk (the first holds the
            # header) before the client says "end".
            wanted = len(chunks) - 1 if fragments is None else fragments
            await _until(lambda: received.binary_before_end >= wanted or reader.done())
            ended.set()
            await socket.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(reader, 120)
        elif then == "leave":
            ended.set()
            await socket.close()
            await reader
        else:
            await asyncio.wait_for(reader, 120)
    return received


async def until_closed(socket: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes the socket: (close code, reason)."""
    try:
        async for _message in socket:
            pass
    except ConnectionClosed:
        pass
    return socket.close_code, socket.close_reason or ""


async def _until(condition: Any, timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting for the server's fragments")


def speech_chunks(samples: np.ndarray, rate: int = 16000, chunk_s: float = CHUNK_S) -> list[bytes]:
    step = int(rate * chunk_s)
    return [pcm16(samples[i:i + step]) for i in range(0, len(samples), step)]


@dataclass
class Decoded:
    video_codec: str
    audio_codec: str | None
    frames: list[np.ndarray]
    times: list[float]  # each frame's presentation time, s
    audio_s: float
    comment: str


def decode(data: bytes) -> Decoded:
    """PyAV reads the fMP4 bytes as a client would (all of them, in order)."""
    with av.open(io.BytesIO(bytes(data))) as container:
        video = container.streams.video[0]
        video_codec = video.codec_context.name
        audio_codec = container.streams.audio[0].codec_context.name if container.streams.audio else None
        frames, times = [], []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            times.append(float(frame.time))
        comment = container.metadata.get("comment", "")
    audio_s = 0.0
    if audio_codec:
        with av.open(io.BytesIO(bytes(data))) as container:
            rate = container.streams.audio[0].codec_context.sample_rate
            audio_s = sum(f.samples for f in container.decode(audio=0)) / rate
    return Decoded(video_codec, audio_codec, frames, times, audio_s, comment)
