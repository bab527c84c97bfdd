#!/usr/bin/env python3
"""Stand-in FaceFusion HTTP server: GET /health, POST /process (contract: docs/ENGINES.md).

In a test: `server = StandinServer(["500", "ok"]).start()`; `server.url`, `server.requests`; `server.stop()`.
As a program: `python facefusion_server.py --port N [--script 500,ok]` (for launch/restart tests).

Script items, one per POST /process (the last repeats): ok, 500, 503, 422 (no source face),
400 (a request it does not understand), slow (answers after 2 s), garbage (200 with junk bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "3.6.0"


def parse_multipart(content_type: str, body: bytes) -> dict[str, list[tuple[str, bytes]]]:
    """{field: [(filename, bytes)]} of a multipart/form-data body (stdlib email parser)."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, list[tuple[str, bytes]]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename() or ""
        fields.setdefault(str(name), []).append((filename, part.get_payload(decode=True) or b""))
    return fields


class StandinServer:
    def __init__(self, script: list[str] | None = None, port: int = 0) -> None:
        self.script = list(script or ["ok"])
        self.requests: list[dict[str, object]] = []  # what /process received
        self.health_checks = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> StandinServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def _next(self) -> str:
        with self._lock:
            index = min(len(self.requests), len(self.script) - 1)
            return self.script[index]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 — quiet
                pass

            def _json(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/health":
                    server.health_checks += 1
                    self._json(200, {"status": "ok", "version": VERSION})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/process":
                    self._json(404, {"error": "not found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                fields = parse_multipart(self.headers.get("Content-Type", ""), self.rfile.read(length))
                what = server._next()
                with server._lock:
                    server.requests.append({"fields": sorted(fields), "behaviour": what,
                                            "sources": [name for name, _ in fields.get("source", [])],
                                            "options": json.loads(fields.get("options", [("", b"{}")])[0][1] or b"{}")})
                if "source" not in fields or "target" not in fields:
                    self._json(400, {"error": "source and target files are required"})
                elif what in ("500", "503"):
                    self._json(int(what), {"error": "CUDA error: out of memory"})
                elif what == "422":
                    self._json(422, {"error": "No source face detected", "about": "source"})
                elif what == "400":
                    self._json(400, {"error": "unknown field"})
                else:
                    if what == "slow":
                        time.sleep(2.0)
                    name, data = fields["target"][0]
                    if what == "garbage":
                        data = os.urandom(2048)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Disposition", f'attachment; filename="{name}"')
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", default="ok")
    args = parser.parse_args()
    StandinServer(args.script.split(","), port=args.port).serve_forever()


if __name__ == "__main__":
    main()
