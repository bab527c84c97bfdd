"""`WebSocket /api/events` through a real uvicorn server and the `websockets` client.

The store is driven as a worker drives it (claim / update_progress / complete), by a LocalExecutor
with the real runner on the generated kit, and by a separate process on the same database file.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app.offline import load_runner_factory
from app.jobs.events import EventKind, JobEvent
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobSpec, JobState, Progress
from app.server import status_view
from app.server.live_host import LiveHost
from app.server.roles import Role
from server_support import RunningServer, make_context, running_server, serve_context

WAIT_S = 30.0  # upper bound for anything a test waits on; normally reached in milliseconds
Message = dict[str, Any]


def spec(tmp_path: Path, name: str = "out") -> JobSpec:
    return JobSpec(sources=[str(tmp_path / "face.png")], targets=[str(tmp_path / "photo.png")],
                   output=str(tmp_path / f"{name}.png"))


@contextmanager
def subscribe(server: RunningServer, role: Role = Role.VIEWER, **options: Any) -> Iterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {server.tokens[role]}"}
    with connect(server.ws_url + "/api/events", additional_headers=headers, open_timeout=WAIT_S,
                 **options) as websocket:
        yield websocket


def collect(websocket: ClientConnection, done: Callable[[list[Message]], bool]) -> list[Message]:
    """Messages until `done(messages)`; fails after WAIT_S."""
    messages: list[Message] = []
    deadline = time.monotonic() + WAIT_S
    while not done(messages):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"not reached in time; got {messages[-10:]}")
        try:
            messages.append(json.loads(websocket.recv(timeout=remaining)))
        except TimeoutError:
            continue
    return messages


def job_messages(messages: list[Message], job_id: int) -> list[Message]:
    return [m["data"] for m in messages if m["type"] == "job" and m["data"]["id"] == job_id]


def reached(job_id: int, state: JobState) -> Callable[[list[Message]], bool]:
    return lambda messages: any(m["state"] == state.value and m["kind"] != "progress"
                                for m in job_messages(messages, job_id))


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def states_of(data: list[Message]) -> list[tuple[str, str]]:
    return [(d["kind"], d["state"]) for d in data if d["kind"] != "progress"]


# The store poll at its normal 1 s, and racing the bus all the time (each change is still sent once).
@pytest.mark.parametrize("poll_s", [1.0, 0.002])
def test_a_jobs_progress_and_completion_arrive_in_order_once_each(tmp_path: Path, poll_s: float) -> None:
    with running_server(tmp_path) as server:
        server.context.hub.poll_s = poll_s
        with subscribe(server) as websocket:
            store = server.context.store
            job = store.add(spec(tmp_path))
            assert store.claim("worker-a", lease_s=30) is not None
            for done in range(1, 31):
                store.update_progress(job.id, done, 30, fps=12.5, eta_s=(30 - done) / 12.5, worker_id="worker-a")
            store.complete(job.id, str(tmp_path / "out.png"), worker_id="worker-a")
            data = job_messages(collect(websocket, reached(job.id, JobState.COMPLETED)), job.id)
    assert [(d["kind"], d["state"], d["done"]) for d in data] == [
        ("added", "PENDING", 0), ("state", "PROCESSING", 0),
        *[("progress", "PROCESSING", n) for n in range(1, 31)],
        ("state", "COMPLETED", 30),
    ]
    assert data[-2]["total"] == 30 and data[-2]["eta_s"] == 0.0 and data[3]["eta_s"] == pytest.approx(28 / 12.5)
    assert data[3]["fps"] == 12.5
    assert data[-1]["message"] == "out.png" and data[-1]["progress"] == 1.0  # a viewer: the name, not the path


def test_only_an_admin_is_told_the_servers_paths_in_job_events(tmp_path: Path) -> None:
    """The output's path and paths inside an error reach admins as they are, everyone else as file names."""
    secret = tmp_path / "private folder" / "deep"
    with running_server(tmp_path) as server, subscribe(server, Role.ADMIN) as admin, \
            subscribe(server, Role.VIEWER) as viewer, subscribe(server, Role.OPERATOR) as operator:
        store = server.context.store
        done, failed = store.add(spec(tmp_path, "done")), store.add(spec(tmp_path, "failed"))
        store.claim("worker-a", lease_s=30)
        store.complete(done.id, str(secret / "done.png"), worker_id="worker-a")
        store.claim("worker-a", lease_s=30)
        store.fail(failed.id, f"cannot read '{secret / 'photo.png'}' (no face in /srv/media/x.png)", transient=False,
                   worker_id="worker-a")
        finished = lambda got: reached(failed.id, JobState.FAILED)(got) and reached(done.id, JobState.COMPLETED)(got)  # noqa: E731
        told = {role: collect(socket, finished) for role, socket in
                ((Role.ADMIN, admin), (Role.VIEWER, viewer), (Role.OPERATOR, operator))}
    for role, messages in told.items():
        completed, error = job_messages(messages, done.id)[-1], job_messages(messages, failed.id)[-1]
        if role is Role.ADMIN:
            assert completed["message"] == str(secret / "done.png")
            assert error["message"] == f"cannot read '{secret / 'photo.png'}' (no face in /srv/media/x.png)"
        else:
            assert completed["message"] == "done.png", role
            assert error["message"] == "cannot read 'photo.png' (no face in x.png)", role
            assert str(tmp_path) not in json.dumps(messages), role


def test_a_job_run_by_a_local_executor_with_the_real_runner_streams_to_completion(
    tmp_path: Path, kit_dir: Path
) -> None:
    samples = kit_dir / "samples"
    output = tmp_path / "swapped.mp4"
    job_spec = JobSpec(sources=[str(samples / "source_a.png")], targets=[str(samples / "target.mp4")],
                       output=str(output), models=str(kit_dir))
    with running_server(tmp_path) as server, subscribe(server) as websocket:
        job = server.context.store.add(job_spec)
        executor = LocalExecutor(server.context.store, load_runner_factory(),
                                 poll_s=0.05, progress_interval_s=0.05)
        executor.start(job_ids=[job.id])
        try:
            data = job_messages(collect(websocket, reached(job.id, JobState.COMPLETED)), job.id)
        finally:
            executor.stop()
            executor.join(timeout=WAIT_S)
    assert states_of(data) == [("added", "PENDING"), ("state", "PROCESSING"), ("state", "COMPLETED")]
    progress = [d for d in data if d["kind"] == "progress"]
    assert progress, "no progress message for a 90-frame video"
    assert data.index(progress[0]) > 1 and data.index(progress[-1]) < len(data) - 1  # between the states
    assert [d["done"] for d in progress] == sorted(d["done"] for d in progress)
    assert progress[-1]["total"] == 90 and progress[-1]["fps"] > 0 and progress[-1]["eta_s"] is not None
    assert data[-1]["message"] == output.name and output.stat().st_size > 0


def test_state_changes_are_never_dropped_when_progress_floods(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        hub = server.context.hub
        # A tiny outbox, no time limit for a full one, and no store poll: this drives the in-process bus.
        hub.queue_size, hub.grace_s, hub.poll_s = 8, 3600.0, 3600.0
        store, bus = server.context.store, server.context.bus
        # The client stops reading from its socket after 2 messages until recv() is called.
        with subscribe(server, compression=None, max_queue=(2, 1)) as websocket:
            jobs = [store.add(spec(tmp_path, f"out{n}")) for n in range(3)]
            claimed = [store.claim("worker-a", lease_s=30) for _ in jobs]
            assert all(claimed)
            # A worker reporting far faster than this client reads: until the hub has had to drop some.
            flood = 0
            deadline = time.monotonic() + WAIT_S
            while hub.dropped_messages == 0:
                assert time.monotonic() < deadline, "the outbox never filled"
                for _ in range(200):
                    flood += 1
                    bus.publish(JobEvent(jobs[flood % 3].id, EventKind.PROGRESS, JobState.PROCESSING,
                                         Progress(flood, 10**9), fps=100.0, eta_s=1.0))
            assert hub.buffered() <= hub.max_buffered_per_subscriber
            for job in jobs:
                store.complete(job.id, job.spec.output, worker_id="worker-a")
            messages = collect(websocket, lambda got: all(reached(j.id, JobState.COMPLETED)(got) for j in jobs))
        # The server notices the closed socket a moment after the client has closed it.
        wait_until(lambda: hub.subscriber_count == 0)
    for job in jobs:
        data = job_messages(messages, job.id)
        assert states_of(data) == [("added", "PENDING"), ("state", "PROCESSING"), ("state", "COMPLETED")]
        done = [d["done"] for d in data if d["kind"] == "progress"]
        assert done == sorted(done) and data[-1]["kind"] == "state"
    delivered = sum(1 for m in messages if m["type"] == "job" and m["data"]["kind"] == "progress")
    assert delivered < flood  # progress was dropped, state changes were not


def test_a_heartbeat_arrives(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.context.hub.heartbeat_s = 0.05
        with subscribe(server) as websocket:
            messages = collect(websocket, lambda got: any(m["type"] == "heartbeat" for m in got))
    beat = next(m for m in messages if m["type"] == "heartbeat")
    assert beat["data"] == {"interval_s": 0.05} and isinstance(beat["time"], float)


class RunningLive(LiveHost):
    """A live session's host as the live routes leave it while a session runs."""

    def snapshot(self) -> dict[str, Any] | None:
        return {"state": "running", "fps": 29.5, "latency_ms_p50": 11.0, "latency_ms_p95": 16.0, "dropped": 2}


def test_live_stats_stream_and_engine_health_is_sent_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = [{"role": "swapper", "provider": "CPUExecutionProvider", "loaded": True, "degraded": False}]
    current = [engines]
    monkeypatch.setattr(status_view, "engines_snapshot", lambda context: current[0])
    context = make_context(tmp_path)
    context.live = RunningLive()
    context.hub.poll_s = 0.02
    with serve_context(context) as server, subscribe(server) as websocket:
        before = collect(websocket, lambda got: sum(m["type"] == "live" for m in got) >= 3)
        current[0] = [{**engines[0], "degraded": True}]
        after = collect(websocket, lambda got: any(m["type"] == "health" for m in got)
                        and sum(m["type"] == "live" for m in got) >= 3)
    assert all(m["type"] == "live" for m in before)  # unchanged health: nothing sent
    assert next(m for m in before)["data"] == RunningLive().snapshot()
    health = [m for m in after if m["type"] == "health"]
    assert len(health) == 1 and health[0]["data"] == {"engines": current[0]}


def test_no_live_messages_while_no_session_has_run(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.context.hub.poll_s, server.context.hub.heartbeat_s = 0.02, 0.3
        with subscribe(server) as websocket:
            got = collect(websocket, lambda got: sum(m["type"] == "heartbeat" for m in got) >= 2)
    # While the hub polled every 20 ms. (A `health` message may come: engines loaded or run earlier in
    # this process change their health on their own clock; that is not a live message.)
    assert "live" not in {m["type"] for m in got} and "heartbeat" in {m["type"] for m in got}


@pytest.mark.parametrize(("token", "fix"), [
    ("?token=sc_not-a-real-token", "swapcast tokens create"),
    ("", "Authorization: Bearer TOKEN"),
])
def test_a_bad_or_missing_token_is_closed_with_1008_naming_the_fix(tmp_path: Path, token: str, fix: str) -> None:
    with running_server(tmp_path) as server, connect(server.ws_url + "/api/events" + token) as websocket:
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=WAIT_S)
        assert server.context.hub.subscriber_count == 0
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert fix in closed.value.rcvd.reason


def test_the_token_may_be_a_query_parameter(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.context.hub.heartbeat_s = 0.05
        with connect(f"{server.ws_url}/api/events?token={server.tokens[Role.VIEWER]}") as websocket:
            assert json.loads(websocket.recv(timeout=WAIT_S))["type"] == "heartbeat"


def raw_websocket_that_never_reads(server: RunningServer) -> socket.socket:
    """A client that completes the handshake and then never reads (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = server.url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Authorization: Bearer {server.tokens[Role.VIEWER]}\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # byte by byte: nothing after the headers is read
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def test_a_client_that_never_reads_is_dropped_and_its_queue_freed(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        hub = server.context.hub
        hub.queue_size, hub.grace_s, hub.poll_s = 16, 1.0, 3600.0
        store, bus = server.context.store, server.context.bus
        stuck = raw_websocket_that_never_reads(server)
        with subscribe(server) as healthy:  # a subscriber that keeps reading, beside it
            received: list[Message] = []
            reading = threading.Thread(target=_read_all, args=(healthy, received), daemon=True)
            reading.start()
            wait_until(lambda: hub.subscriber_count == 2)
            job = store.add(spec(tmp_path))
            store.claim("worker-a", lease_s=30)
            peak, flood = 0, 0
            deadline = time.monotonic() + WAIT_S * 2
            while hub.dropped_subscribers == 0:
                assert time.monotonic() < deadline, "the stuck client was never dropped"
                for _ in range(100):
                    flood += 1
                    bus.publish(JobEvent(job.id, EventKind.PROGRESS, JobState.PROCESSING, Progress(flood, 10**9)))
                peak = max(peak, hub.buffered())
                time.sleep(0.001)  # pace the flood so the healthy reader's thread gets the CPU
            # Each outbox stays within its bound however long the flood: a full one swaps old progress out.
            assert peak <= 2 * hub.queue_size
            wait_until(lambda: hub.subscriber_count == 1)
            assert hub.buffered() <= hub.queue_size  # the stuck one's queue is gone
            store.complete(job.id, job.spec.output, worker_id="worker-a")
            wait_until(lambda: reached(job.id, JobState.COMPLETED)(list(received)))  # the healthy one is served
        reading.join(timeout=WAIT_S)
        # The server closed the stuck socket: once it reads, it reaches the end of the stream.
        stuck.settimeout(WAIT_S)
        tail = b""
        while chunk := stuck.recv(65536):
            tail += chunk
        stuck.close()
    assert hub.dropped_subscribers == 1 and len(tail) > 0


def _read_all(websocket: ClientConnection, into: list[Message]) -> None:
    try:
        for text in websocket:
            into.append(json.loads(text))
    except ConnectionClosed:
        pass


CHILD = """
import sys
from app.jobs.store import JobStore
store = JobStore(sys.argv[1])  # no EventBus: nothing of this process reaches the server's bus
job = store.claim("remote-worker", lease_s=30)
store.update_progress(job.id, 3, 10, fps=7.0, eta_s=1.0, worker_id="remote-worker")
print("progress written", flush=True)
sys.stdin.readline()
store.complete(job.id, sys.argv[2], worker_id="remote-worker")
print("completed", flush=True)
"""


def test_progress_written_by_another_process_reaches_the_subscriber(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.context.hub.poll_s = 0.05
        with subscribe(server) as websocket:
            job = server.context.store.add(spec(tmp_path))
            output = str(tmp_path / "out.png")
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(server.context.store.path), output],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
            try:
                assert child.stdout is not None and child.stdin is not None
                assert child.stdout.readline().strip() == "progress written"
                got = collect(websocket, lambda m: any(d["done"] == 3 for d in job_messages(m, job.id)))
                child.stdin.write("go\n")
                child.stdin.flush()
                got += collect(websocket, reached(job.id, JobState.COMPLETED))
                assert child.wait(timeout=WAIT_S) == 0
            finally:
                child.kill()
                child.wait()
    data = job_messages(got, job.id)
    assert data[0]["kind"] == "added"
    # The poll may see the claim and the first progress together: one PROCESSING message then.
    assert states_of(data) == [("added", "PENDING"), ("state", "PROCESSING"), ("state", "COMPLETED")]
    assert data[-1]["message"] == "out.png"  # a viewer: the output's name
    three = next(d for d in data if d["done"] == 3)
    assert (three["total"], three["fps"], three["eta_s"]) == (10, 7.0, 1.0)
    assert len([d for d in data if d["state"] == "COMPLETED"]) == 1  # sent once, not once per poll
