"""The avatar session manager through a real server: least-recently-used eviction at the session limit,
the memory ceiling's levels (and its 503), reconnecting within the grace period, and after it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.server.avatar.memory import MemoryCeiling, MemoryLevel, level_of, process_rss
from app.server.roles import Role
from engines.testing.speech import speech_like
from avatar_support import samples  # noqa: F401 — a fixture
from avatar_support import (
    avatar_server, create, create_ok, refusal, session_ids, socket_url, speech_chunks, stream_audio, until_closed,
)

MIB = 1024**2


@pytest.fixture()
def photo(samples: Path) -> Path:
    return samples / "target.png"


def wait_until(what: str, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def evicted(client: httpx.Client) -> list[tuple[str, str]]:
    return [(e["id"], e["reason"]) for e in client.get("/api/avatar/sessions").json()["data"]["evicted"]]


def states(client: httpx.Client) -> dict[str, str]:
    return {s["id"]: s["state"] for s in client.get("/api/avatar/sessions").json()["data"]["sessions"]}


def test_the_least_recently_used_waiting_session_makes_room(tmp_path: Path, photo: Path) -> None:
    with avatar_server(tmp_path, max_sessions=2) as server, server.client(Role.OPERATOR) as client:
        first = create_ok(client, photo)
        second = create_ok(client, photo)
        # The first is used (a client streams a little and leaves): now the second is the least recently used.
        asyncio.run(stream_audio(socket_url(server, first), speech_chunks(speech_like(0.4))[:2], then="leave"))
        wait_until("the first session to wait again", lambda: states(client).get(first) == "waiting")
        third = create_ok(client, photo)
        assert set(session_ids(client)) == {first, third}
        assert evicted(client) == [(second, "least_recently_used")]
        gone = asyncio.run(stream_audio(socket_url(server, second), [], then="wait"))
        assert gone.close_code == 4404 and "no avatar session" in gone.close_reason
        fourth = create_ok(client, photo)
        assert set(session_ids(client)) == {third, fourth}  # then the first, used before the third was made
        assert evicted(client) == [(second, "least_recently_used"), (first, "least_recently_used")]


def test_a_full_table_of_connected_sessions_refuses_a_new_one(tmp_path: Path, photo: Path) -> None:
    with avatar_server(tmp_path, max_sessions=2) as server, server.client(Role.OPERATOR) as client:
        ids = [create_ok(client, photo), create_ok(client, photo)]

        async def while_connected() -> httpx.Response:
            sockets = [await connect(socket_url(server, i)) for i in ids]
            try:
                for socket in sockets:
                    assert json.loads(await socket.recv())["type"] == "ready"
                return await asyncio.to_thread(create, client, photo)
            finally:
                for socket in sockets:
                    await socket.close()

        assert "DELETE" in refusal(asyncio.run(while_connected()), 503, "sessions_full")
        assert set(session_ids(client)) == set(ids)


def test_at_the_memory_ceiling_sessions_close_and_new_ones_get_503(tmp_path: Path, photo: Path) -> None:
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        waiting = create_ok(client, photo)
        quiet = create_ok(client, photo)

        async def connected_then_ceiling() -> tuple[int | None, str]:
            async with connect(socket_url(server, quiet)) as socket:
                assert json.loads(await socket.recv())["type"] == "ready"
                # A ceiling far below this process's real resident memory: past 120 %.
                server.context.avatars.memory = MemoryCeiling(8 * MIB)
                return await until_closed(socket)

        code, reason = asyncio.run(connected_then_ceiling())
        assert code == 1013 and "memory" in reason  # a connected client that was not processing: closed
        assert session_ids(client) == []  # and the one nobody was connected to
        assert sorted(evicted(client)) == sorted([(waiting, "memory"), (quiet, "memory")])
        message = refusal(create(client, photo), 503, "memory_full")
        assert "of 8 MiB" in message and "try again" in message
        assert session_ids(client) == []
        assert not any((tmp_path / "uploads" / "inputs").glob("*/*"))  # the refused upload is not kept


class SetReading:
    """A resident-memory reading the test sets (the levels' actions are what is tested, not psutil)."""

    def __init__(self, used: int) -> None:
        self.used = used

    def __call__(self) -> int:
        return self.used


def test_at_80_percent_only_sessions_without_a_client_close(tmp_path: Path, photo: Path) -> None:
    reading = SetReading(10 * MIB)
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        manager = server.context.avatars
        manager.memory = MemoryCeiling(100 * MIB, used=reading)
        waiting = create_ok(client, photo)
        connected = create_ok(client, photo)

        async def scenario() -> str:
            async with connect(socket_url(server, connected)) as socket:
                assert json.loads(await socket.recv())["type"] == "ready"
                reading.used = 85 * MIB
                await asyncio.to_thread(wait_until, "the waiting session to close",
                                        lambda: waiting not in session_ids(client))
                assert session_ids(client) == [connected]
                new = await asyncio.to_thread(create_ok, client, photo)  # under 100 %: still admitted
                reading.used = 125 * MIB  # past 120 %: the connected but quiet one goes too
                await asyncio.to_thread(wait_until, "every session to close", lambda: not session_ids(client))
                return new

        new = asyncio.run(scenario())
        closed = evicted(client)
        assert closed[0] == (waiting, "memory") and sorted(closed[1:]) == sorted([(connected, "memory"), (new, "memory")])


def test_memory_levels() -> None:
    assert [level_of(used, 100) for used in (0, 79, 80, 99, 100, 119, 120, 500)] == [
        MemoryLevel.NORMAL, MemoryLevel.NORMAL, MemoryLevel.HIGH, MemoryLevel.HIGH, MemoryLevel.FULL,
        MemoryLevel.FULL, MemoryLevel.CRITICAL, MemoryLevel.CRITICAL]
    assert process_rss() > 10 * MIB  # the real reading: this Python process's resident set


def test_reconnecting_within_the_grace_period_resumes_the_session_and_after_it_it_is_gone(
        tmp_path: Path, photo: Path) -> None:
    speech = speech_chunks(speech_like(1.0, [(0.3, 0.7)]))
    with avatar_server(tmp_path, grace_s=5.0) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, photo)
        dropped = asyncio.run(stream_audio(socket_url(server, session), speech[:2], then="leave"))
        assert not dropped.of("ready")[0]["resumed"]
        again = asyncio.run(stream_audio(socket_url(server, session), speech))
        ready = again.of("ready")[0]
        assert ready["session"] == session and ready["resumed"]
        assert again.close_code == 1000 and again.of("end")[0]["frames"] == 25
        described = client.get("/api/avatar/sessions").json()["data"]["sessions"]
        assert [(s["id"], s["streams"]) for s in described] == [(session, 2)]
        wait_until("the grace period to end", lambda: session not in session_ids(client))
        assert evicted(client) == [(session, "grace_period")]
        late = asyncio.run(stream_audio(socket_url(server, session), [], then="wait"))
        assert late.close_code == 4404 and "grace period" in late.close_reason


def test_delete_closes_the_connected_client(tmp_path: Path, photo: Path) -> None:
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, photo)

        async def deleted_while_connected() -> tuple[int | None, str]:
            async with connect(socket_url(server, session)) as socket:
                assert json.loads(await socket.recv())["type"] == "ready"
                answer = await asyncio.to_thread(client.delete, f"/api/avatar/sessions/{session}")
                assert answer.status_code == 200, answer.text
                return await until_closed(socket)

        assert asyncio.run(deleted_while_connected()) == (1000, "the session was deleted")
        assert session_ids(client) == []
        missing = client.delete(f"/api/avatar/sessions/{session}")
        assert "POST /api/avatar/sessions" in refusal(missing, 404, "session_not_found")


def test_a_second_connection_takes_the_session_over(tmp_path: Path, photo: Path) -> None:
    """A client that reconnects before the server noticed its old connection died gets the session."""
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, photo)

        async def twice() -> tuple[tuple[int | None, str], dict[str, Any]]:
            async with connect(socket_url(server, session)) as old:
                assert json.loads(await old.recv())["type"] == "ready"
                async with connect(socket_url(server, session)) as new:
                    ready = json.loads(await new.recv())["data"]
                    return await until_closed(old), ready

        (code, reason), ready = asyncio.run(twice())
        assert (code, reason) == (4409, "a newer connection took this session over")
        assert ready["session"] == session and ready["resumed"]
