"""Where the HTTP engine may send the user's photos: only to the origin configured, only on this
machine unless the entry says `allowRemote: true`, and `swapcast engines` says when they leave it.

The servers are real (http.server on 127.0.0.1, ports picked free); the one on "another origin" is
a second server on another port, and the tests check it never receives anything.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.cli.main import main
from engines.external.base import SwapRequest
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure, EngineUnavailable
from engines.manager import create_adapter
from standins.facefusion_server import StandinServer, parse_multipart
from standins.helpers import document, http_entry, write_integrations

UNROUTABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never a real host, never this machine


@dataclass
class Seen:
    method: str
    path: str
    body_bytes: int


@dataclass
class Redirector:
    """POST /process (and GET /health if asked) answers `status` with Location `target` + the path;
    POST /v2/process answers like a FaceFusion server (the target file back)."""

    target: str
    status: int = 307
    redirect_health: bool = False
    seen: list[Seen] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> Redirector:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 — quiet
                pass

            def _answer(self, redirect: bool) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                owner.seen.append(Seen(self.command, self.path, len(body)))
                if redirect:
                    self.send_response(owner.status)
                    self.send_header("Location", owner.target + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps({"status": "ok", "version": "3.6.0"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(owner.redirect_health)

            def do_POST(self) -> None:  # noqa: N802
                if not self.path.startswith("/v2/"):
                    self._answer(True)
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                owner.seen.append(Seen(self.command, self.path, len(body)))
                _, data = parse_multipart(self.headers.get("Content-Type", ""), body)["target"][0]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.httpd is not None
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def elsewhere() -> Iterator[StandinServer]:
    """A working FaceFusion stand-in on another port: another origin, which must get nothing."""
    server = StandinServer(["ok"]).start()
    yield server
    server.stop()


@pytest.fixture()
def redirector() -> Iterator[list[Redirector]]:
    made: list[Redirector] = []
    yield made
    for server in made:
        server.stop()


def adapter_for(url: str, **entry):
    config = parse_integrations(document({"ff": http_entry(url, **entry)}), Path("t.json"))
    return create_adapter(config.engine("ff"))


def request(kit_dir: Path, out: Path) -> SwapRequest:
    return SwapRequest(sources=(kit_dir / "samples/source_a.png",), target=kit_dir / "samples/target.png",
                       output=out, mode=Mode.IMAGE_TO_IMAGE, frames_hint=1)


@pytest.mark.parametrize("status", [307, 308, 302, 303])
def test_an_upload_is_never_sent_to_another_origin_by_a_redirect(status, kit_dir, tmp_path, elsewhere,
                                                                 redirector) -> None:
    first = Redirector(elsewhere.url, status=status).start()
    redirector.append(first)
    with pytest.raises(EngineFailure) as caught:
        adapter_for(first.origin).run(request(kit_dir, tmp_path / "out.png"), lambda done, total: None)
    message = str(caught.value)
    assert "\n" not in message
    assert first.origin in message and elsewhere.url in message and "another origin" in message
    assert elsewhere.requests == [] and elsewhere.health_checks == 0  # the photos never got there
    assert [seen.method for seen in first.seen] == ["GET", "POST"]  # health, then the one refused upload
    assert not (tmp_path / "out.png").exists()


def test_a_health_check_redirected_to_another_origin_is_down_and_names_both(elsewhere, redirector) -> None:
    first = Redirector(elsewhere.url, redirect_health=True).start()
    redirector.append(first)
    availability = adapter_for(first.origin).check()
    assert not availability.available
    assert first.origin in availability.reason and elsewhere.url in availability.reason
    assert elsewhere.health_checks == 0


def test_a_redirect_within_the_same_origin_is_still_followed(kit_dir, tmp_path, elsewhere, redirector) -> None:
    same = Redirector("").start()
    redirector.append(same)
    same.target = same.origin + "/v2"  # Location: <same origin>/v2/process
    adapter_for(same.origin).run(request(kit_dir, tmp_path / "out.png"), lambda done, total: None)
    assert (tmp_path / "out.png").is_file()
    assert [(seen.method, seen.path) for seen in same.seen] == [("GET", "/health"), ("POST", "/process"),
                                                                ("POST", "/v2/process")]
    assert same.seen[-1].body_bytes > 1000  # the upload itself was re-sent, to the same server


def test_a_remote_address_is_refused_unless_the_entry_allows_it(kit_dir, tmp_path) -> None:
    url = f"http://{UNROUTABLE}:7870"
    adapter = adapter_for(url, timeouts={"startS": 1, "idleS": 1, "totalS": 1, "healthS": 0.3})
    availability = adapter.check()
    assert not availability.available
    assert UNROUTABLE in availability.reason and "allowRemote" in availability.reason
    with pytest.raises(EngineUnavailable) as caught:
        adapter.run(request(kit_dir, tmp_path / "out.png"), lambda done, total: None)
    assert "\n" not in str(caught.value) and "allowRemote: true" in str(caught.value)


def test_a_name_that_resolves_off_this_machine_counts_as_remote(monkeypatch, kit_dir, tmp_path) -> None:
    real = socket.getaddrinfo

    def dns(host, *args, **kwargs):  # the name server's answer for one name; every other name is real
        if host == "faces.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.9", args[0] if args else 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    adapter = adapter_for("http://faces.example:7870", timeouts={"startS": 1, "idleS": 1, "totalS": 1, "healthS": 0.3})
    availability = adapter.check()
    assert not availability.available
    assert "faces.example" in availability.reason and "203.0.113.9" in availability.reason
    assert "allowRemote" in availability.reason


def test_localhost_by_name_is_this_machine(kit_dir, tmp_path, elsewhere) -> None:
    port = elsewhere.url.rsplit(":", 1)[1]
    adapter = adapter_for(f"http://localhost:{port}")
    assert adapter.check().available
    adapter.run(request(kit_dir, tmp_path / "out.png"), lambda done, total: None)
    assert (tmp_path / "out.png").is_file() and len(elsewhere.requests) == 1


def test_engines_says_plainly_when_files_leave_the_machine(tmp_path, monkeypatch, capsys, elsewhere) -> None:
    quick = {"startS": 1, "idleS": 1, "totalS": 1, "healthS": 0.3}
    path = write_integrations(tmp_path, {
        "remote-ff": http_entry(f"http://{UNROUTABLE}:7870", allowRemote=True, timeouts=quick),
        "refused-ff": http_entry(f"http://{UNROUTABLE}:7871", timeouts=quick),
        "local-ff": http_entry(elsewhere.url, timeouts=quick),
    })
    monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(path))
    capsys.readouterr()
    assert main(["engines", "--json"]) == 0
    engines = {engine["name"]: engine for engine in json.loads(capsys.readouterr().out)["engines"]}
    assert engines["remote-ff"]["files_leave_machine"] is True and engines["remote-ff"]["remote"] is True
    assert engines["remote-ff"]["sends_to"] == f"http://{UNROUTABLE}:7870"
    refused = engines["refused-ff"]  # remote, not allowed: nothing is ever sent, and it says why
    assert refused["remote"] is True and refused["files_leave_machine"] is False and not refused["available"]
    assert "allowRemote" in refused["reason"]
    assert engines["local-ff"]["files_leave_machine"] is False and engines["local-ff"]["remote"] is False
    assert main(["engines"]) == 0
    table = capsys.readouterr().out
    assert [line for line in table.splitlines()
            if line.startswith("remote-ff:") and "leave this machine" in line and UNROUTABLE in line
            and "over unencrypted http" in line]  # an http:// URL off this machine is said to be plain text
    assert not [line for line in table.splitlines() if line.startswith(("local-ff:", "refused-ff:")) and "leave this" in line]
    assert not [line for line in table.splitlines() if line.startswith("refused-ff: refused-ff")]  # named once


def test_a_proxy_set_in_the_environment_never_carries_the_photos_of_a_local_engine(
        monkeypatch, kit_dir, tmp_path, elsewhere, redirector) -> None:
    proxy = Redirector(elsewhere.url).start()  # would bounce anything it got on to `elsewhere`
    redirector.append(proxy)
    local = StandinServer(["ok"]).start()
    try:
        for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(variable, proxy.origin)
        for variable in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(variable, raising=False)
        adapter_for(local.url).run(request(kit_dir, tmp_path / "out.png"), lambda done, total: None)
        assert (tmp_path / "out.png").is_file() and len(local.requests) == 1
        assert proxy.seen == [] and elsewhere.requests == []
    finally:
        local.stop()


def test_allow_remote_on_an_engine_that_sends_nothing_anywhere_is_a_settings_error() -> None:
    from engines.external.errors import IntegrationConfigError
    from standins.helpers import facefusion_entry

    with pytest.raises(IntegrationConfigError, match="engine 'ff': allowRemote only applies to http and websocket engines"):
        parse_integrations(document({"ff": facefusion_entry(allowRemote=True)}), Path("t.json"))
