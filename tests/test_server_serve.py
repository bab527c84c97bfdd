"""`swapcast serve`: a real process that prints the address it bound and its first admin token, answers,
and stops cleanly on SIGTERM; the one-line refusals (busy port, a remote address without --allow-remote)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from app.cli.main import main
from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.paths import user_paths
from app.server.runner import RemoteNotAllowed, check_host
from test_jobs_fakes import make_spec

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 60.0  # bound for a Python process to start on a loaded 2-core machine


class ServeProcess:
    """`python -m app serve ...` with its stdout read line by line on a thread."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "app", "serve", *args], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no output from serve; so far: {self.seen}") from None
        self.seen.append(line)
        return line

    def printed(self) -> str:
        """Everything it printed (after it exited)."""
        self.reader.join(timeout=WAIT_S)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return "\n".join(self.seen)

    def line_matching(self, pattern: str) -> re.Match[str]:
        while True:
            match = re.search(pattern, self.next_line())
            if match:
                return match


def test_serve_on_a_free_port_answers_and_stops_cleanly_on_sigterm() -> None:
    serve = ServeProcess("--port", "0")  # one worker with the real runner, as by default
    try:
        url = serve.line_matching(r"SwapCast API on (http://127\.0\.0\.1:(\d+))").group(1)
        assert not url.endswith(":0")  # the port actually bound, not the one asked for
        assert "admin token" in serve.next_line()  # the first start makes one, shown once
        admin = serve.next_line().strip()
        assert admin.startswith("sc_")
        with httpx.Client(base_url=url, timeout=30) as client:
            health = client.get("/health")
            status = client.get("/api/status", headers={"Authorization": f"Bearer {admin}"})
            anonymous = client.get("/api/status")
        assert health.status_code == 200 and health.json()["data"]["alive"] is True
        assert status.status_code == 200 and status.json()["data"]["queue"]["pending"] == 0
        assert anonymous.status_code == 401
        serve.process.send_signal(signal.SIGTERM)
        assert serve.process.wait(timeout=WAIT_S) == 0
        assert "stopped" in serve.line_matching(r"stopped").group(0)
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)  # nothing listens any more


def test_a_second_start_prints_no_new_token_and_workers_0_serves_the_api_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--role", "viewer"]) == 0  # tokens exist: no admin token is made
    viewer = capsys.readouterr().out.strip().splitlines()[-1]
    with JobStore(user_paths().jobs_db) as store:  # the CLI's queue: the server must see the same one
        job = store.add(make_spec("ok", "queued-before"))
    serve = ServeProcess("--port", "0", "--workers", "0", "--avatar-sessions", "2", "--avatar-memory-mb", "4096")
    try:
        url = serve.line_matching(r"SwapCast API on (http://[0-9.:]+)").group(1)
        status = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {viewer}"}, timeout=30)
        assert status.json()["data"]["queue"]["pending"] == 1
        avatar = status.json()["data"]["avatar"]  # the avatar limits as given on the command line
        assert avatar["sessions"] == 0 and avatar["max_sessions"] == 2 and avatar["memory"]["ceiling_mb"] == 4096
        serve.process.send_signal(signal.SIGTERM)
        assert serve.process.wait(timeout=WAIT_S) == 0
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait()
    printed = serve.printed()
    assert "sc_" not in printed and "admin token" not in printed
    assert "no queue workers" in printed
    with JobStore(user_paths().jobs_db) as store:
        assert store.get(job.id).state is JobState.PENDING  # untouched: --workers 0 runs nothing


def test_a_busy_port_is_one_line_naming_the_port_and_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"swapcast: error: port {port} on 127.0.0.1 is already in use — stop what runs "
                            "there, or pick another with --port N (--port 0 picks a free one)\n")
    assert not (user_paths().settings / "tokens.json").exists()  # refused before anything was made


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_remote_address_needs_allow_remote(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", host, "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert f"--host {host} lets other machines reach the API — add --allow-remote" in captured.err


def test_loopback_names_are_allowed_and_remote_ones_only_when_asked() -> None:
    assert check_host("127.0.0.1", allow_remote=False).loopback
    assert check_host("localhost", allow_remote=False).loopback
    assert check_host("::1", allow_remote=False).loopback
    with pytest.raises(RemoteNotAllowed):
        check_host("0.0.0.0", allow_remote=False)
    assert not check_host("0.0.0.0", allow_remote=True).loopback  # allowed; the CLI prints a warning


def test_allow_paths_must_name_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--allow-paths", str(tmp_path / "missing")]) == 2
    assert f"--allow-paths {tmp_path / 'missing'} is not a folder — name an existing folder" in capsys.readouterr().err


def _blocks(language: str) -> list[str]:
    text = (REPO / "docs" / "API.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_every_swapcast_command_in_the_api_doc_is_valid_as_written() -> None:
    import shlex

    from app.cli.main import build_parser

    commands = [shlex.split(line, comments=True) for block in _blocks("bash")
                for line in block.splitlines() if line.startswith("swapcast ")]
    assert len(commands) >= 8
    for command in commands:
        args = build_parser().parse_args(command[1:])
        assert args.command in ("serve", "tokens"), command


def test_the_python_examples_in_the_api_doc_are_valid_python() -> None:
    import ast

    examples = _blocks("python")
    assert len(examples) == 4  # the source-face client, the OBS hotkey script, the events reader, the avatar client
    for example in examples:
        ast.parse(example)
    client = next(e for e in examples if "switch_face.py" in e)
    assert "/api/live/source" in client and len(client.strip().splitlines()) <= 25
    obs_script = next(e for e in examples if "obspython" in e)
    assert '"/api/live/controls"' in obs_script and '{"swap": not state["swap"]}' in obs_script
    assert '["data"]["swap"]' in obs_script  # it keeps the state the server answers with, not its own guess


def test_connections_to_the_api_socket_have_nagle_off() -> None:
    """asyncio sets TCP_NODELAY only on accepted sockets whose protocol says TCP; the socket `serve`
    binds itself once had proto 0, and every response then waited ~40 ms for the client's delayed ACK."""
    import asyncio
    import socket

    from app.server.runner import bind, check_host

    async def nodelay_of_an_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = bind(check_host("127.0.0.1", False), 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0
