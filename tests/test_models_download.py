"""The downloader against a real HTTP server on 127.0.0.1: resume, mirrors, hashes, offline."""

from __future__ import annotations

import hashlib
import io
import json
import random
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main
from engines.errors import DownloadError, ModelError
from engines.models import ModelStore
from engines.models import hashing

PAYLOAD = random.Random(7).randbytes(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
WRONG = bytes(b ^ 0xFF for b in PAYLOAD)  # same length, other bytes


class FileServer:
    """Serves `files` under behaviour prefixes: /ok/ /norange/ /fail500/ /wrong/ /drop/."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"model.bin": PAYLOAD}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.dropped: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append((self.path, self.headers.get("Range")))
                _, mode, name = self.path.split("/", 2)
                body = server.files.get(name)
                if body is None or mode == "fail500":
                    self.send_error(404 if body is None else 500)
                    return
                if mode == "wrong":
                    body = bytes(b ^ 0xFF for b in body)
                if mode == "drop" and self.path not in server.dropped:
                    server.dropped.add(self.path)
                    # Promise the whole body, send half, hang up.
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and mode != "norange":
                    start = int(range_header.removeprefix("bytes=").rstrip("-"))
                if start >= len(body) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, mode: str, name: str = "model.bin") -> str:
        return f"{self.base}/{mode}/{name}"

    def ranges_for(self, mode: str, name: str = "model.bin") -> list[str | None]:
        return [rng for path, rng in self.requests if path == f"/{mode}/{name}"]


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    # A short poll interval: shutdown() waits for it, once per test.
    thread = threading.Thread(target=files.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entry(urls: list[str], sha256: str | None = PAYLOAD_SHA, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": "demo", "role": "swapper", "file": "demo.onnx", "urls": urls, "sha256": sha256,
        "size": len(PAYLOAD), "license": "test only", "default": True,
        "contract": {"inputs": "-", "outputs": "-"}, "description": "served by the test server",
    }
    value.update(extra)
    return value


def make_store(tmp_path: Path, *entries: dict[str, Any], warnings: list[str] | None = None) -> ModelStore:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format": 1, "models": list(entries)}))
    sink = warnings if warnings is not None else []
    return ModelStore.from_catalog(tmp_path / "models", catalog=catalog, timeout=5, warn=sink.append)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".swapcast.json")) if directory.exists() else []


# --- the happy path ---------------------------------------------------------------------------


def test_download_streams_to_part_then_renames_verified_file(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    target = store.path("demo")
    seen: list[tuple[int, int | None]] = []

    def progress(done: int, total: int | None) -> None:
        seen.append((done, total))
        # While bytes are arriving the model's own name must not exist yet.
        assert not target.exists()

    path = store.download("demo", progress=progress)

    assert path == target and path.read_bytes() == PAYLOAD
    assert leftovers(store.directory) == ["demo.onnx"]  # no .part left behind
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert store.status("demo").verified and store.require("demo") == target


def test_second_download_of_a_verified_file_touches_no_network(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    store.download("demo")
    count = len(server.requests)
    store.download("demo")
    assert len(server.requests) == count


def test_status_uses_the_hash_cache_until_the_file_changes(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    store.download("demo")
    calls: list[Path] = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda path, progress=None: calls.append(path) or real(path))

    assert store.status("demo").verified and store.status("demo").verified
    assert calls == []  # the download's own hash was cached: no re-read
    store.path("demo").write_bytes(PAYLOAD)  # same bytes, new mtime: must be re-hashed once
    assert store.status("demo").verified and store.status("demo").verified
    assert len(calls) == 1


# --- resuming ---------------------------------------------------------------------------------


def test_partial_part_is_resumed_with_a_range_request(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    store.directory.mkdir(parents=True)
    (store.directory / "demo.onnx.part").write_bytes(PAYLOAD[:100_000])
    seen: list[int] = []

    store.download("demo", progress=lambda done, total: seen.append(done))

    assert server.ranges_for("ok") == ["bytes=100000-"]
    assert seen[0] == 100_000  # progress starts where the earlier run stopped
    assert hashlib.sha256(store.path("demo").read_bytes()).hexdigest() == PAYLOAD_SHA


def test_server_that_ignores_range_restarts_from_zero(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("norange")]))
    store.directory.mkdir(parents=True)
    (store.directory / "demo.onnx.part").write_bytes(b"stale bytes from elsewhere" * 1000)

    store.download("demo")

    assert server.ranges_for("norange")[0] is not None  # we asked to resume, it answered 200
    assert store.path("demo").read_bytes() == PAYLOAD


def test_connection_dropped_half_way_is_resumed(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("drop")]))

    store.download("demo")

    ranges = server.ranges_for("drop")
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 2}-"
    assert hashlib.sha256(store.path("demo").read_bytes()).hexdigest() == PAYLOAD_SHA


def test_complete_part_left_by_a_crash_is_verified_without_refetching(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    store.directory.mkdir(parents=True)
    (store.directory / "demo.onnx.part").write_bytes(PAYLOAD)

    store.download("demo")

    assert server.ranges_for("ok") == [f"bytes={len(PAYLOAD)}-"]  # answered 416: nothing left to send
    assert store.path("demo").read_bytes() == PAYLOAD


# --- mirrors ----------------------------------------------------------------------------------


def test_mirror_is_used_after_the_primary_fails_with_500(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("fail500"), server.url("ok")]))
    store.download("demo")
    assert len(server.ranges_for("fail500")) == 1 and len(server.ranges_for("ok")) == 1
    assert store.path("demo").read_bytes() == PAYLOAD


def test_mirror_is_used_after_a_hash_mismatch(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("wrong"), server.url("ok")]))
    store.download("demo")
    assert store.path("demo").read_bytes() == PAYLOAD
    # The mirror started from zero: the wrong bytes were thrown away, not resumed.
    assert server.ranges_for("ok") == [None]


def test_hash_mismatch_on_every_url_leaves_nothing_and_names_the_hashes(server: FileServer, tmp_path: Path) -> None:
    server.files["other.bin"] = PAYLOAD
    store = make_store(tmp_path, entry([server.url("wrong"), server.url("wrong", "other.bin")]))

    with pytest.raises(DownloadError) as caught:
        store.download("demo")

    message = caught.value.one_line()
    assert "\n" not in message and message.startswith("could not download demo: sha256 mismatch")
    assert str(store.directory) in message
    # Each URL's mismatch, with both hashes, is in the details (`--verbose`).
    details = "\n".join(caught.value.details)
    assert details.count("sha256 mismatch") == 2
    assert PAYLOAD_SHA in details and hashlib.sha256(WRONG).hexdigest() in details
    assert leftovers(store.directory) == []


def test_offline_fails_within_seconds_with_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{closed_port()}/primary/demo.onnx", f"http://127.0.0.1:{closed_port()}/mirror/demo.onnx"]
    store = make_store(tmp_path, entry(urls))

    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        store.download("demo")
    elapsed = time.monotonic() - started

    message = caught.value.one_line()
    assert elapsed < 3
    # One line: what failed, and the fix — the folder to put the file in and a URL to fetch it from.
    assert "\n" not in message and len(message) < 400
    assert message.startswith("could not download demo: connection refused")
    assert f"put demo.onnx into {store.directory} by hand (from {urls[0]})" in message
    assert "swapcast models download demo" in message
    assert [line.split(": ", 1)[0] for line in caught.value.details[:2]] == urls  # every URL, on demand
    assert leftovers(store.directory) == []  # no model file, no empty .part


def test_an_unreachable_host_is_tried_once_not_once_per_url(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    store = make_store(tmp_path, entry([f"{dead}/a/demo.onnx", f"{dead}/b/demo.onnx"]))
    with pytest.raises(DownloadError) as caught:
        store.download("demo")
    assert f"{dead}/b/demo.onnx: not tried: connection refused by 127.0.0.1" in caught.value.details


def test_a_host_that_never_answers_times_out_quickly(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps({"format": 1, "models": [entry([f"{base}/a/demo.onnx", f"{base}/b/demo.onnx"])]}))
        store = ModelStore.from_catalog(tmp_path / "models", catalog=catalog, timeout=0.3)

        started = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            store.download("demo")

    assert time.monotonic() - started < 2  # one timeout for the host, not one per URL
    assert "no answer from 127.0.0.1 within 0.3 s" in caught.value.one_line()
    assert leftovers(store.directory) == []


# --- files on disk that cannot be trusted -----------------------------------------------------


def test_corrupted_file_is_unverified_and_never_handed_out(server: FileServer, tmp_path: Path) -> None:
    store = make_store(tmp_path, entry([server.url("ok")]))
    path = store.download("demo")
    path.write_bytes(WRONG)  # same size, other bytes

    status = store.status("demo")
    assert status.present and not status.verified
    assert PAYLOAD_SHA in (status.problem or "") and hashlib.sha256(WRONG).hexdigest() in (status.problem or "")
    with pytest.raises(ModelError) as caught:
        store.require("demo")
    message = caught.value.one_line()
    assert str(path) in message and "swapcast models download demo" in message and server.url("ok") in message

    # Downloading again replaces it with a verified copy.
    store.download("demo")
    assert store.require("demo").read_bytes() == PAYLOAD


def test_missing_hash_records_the_first_download_and_warns(server: FileServer, tmp_path: Path) -> None:
    warnings: list[str] = []
    store = make_store(
        tmp_path, entry([server.url("ok")], sha256=None, sha256_note="no published hash"), warnings=warnings
    )

    store.download("demo")

    assert len(warnings) == 1 and PAYLOAD_SHA in warnings[0] and "first download" in warnings[0]
    assert store.status("demo").verified
    store.path("demo").write_bytes(WRONG)
    status = store.status("demo")
    assert not status.verified and "recorded" in (status.problem or "") and PAYLOAD_SHA in (status.problem or "")
    assert len(warnings) == 1  # the recorded hash is now the reference, not a new first use


# --- zip archives -----------------------------------------------------------------------------


def _zip_with(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pack/readme.txt", "not the model")
        archive.writestr(member, data)
    return buffer.getvalue()


def test_zip_is_hash_checked_then_only_the_member_is_extracted(server: FileServer, tmp_path: Path) -> None:
    server.files["pack.zip"] = zipped = _zip_with("pack/model.bin", PAYLOAD)
    archive = {"url_is_zip": True, "member": "model.bin", "sha256": hashlib.sha256(zipped).hexdigest()}
    store = make_store(tmp_path, entry([server.url("ok", "pack.zip")], archive=archive))

    store.download("demo")

    assert store.require("demo").read_bytes() == PAYLOAD
    assert leftovers(store.directory) == ["demo.onnx"]  # the zip is gone once used


def test_zip_with_the_wrong_hash_is_not_opened(server: FileServer, tmp_path: Path) -> None:
    server.files["pack.zip"] = _zip_with("model.bin", PAYLOAD)
    archive = {"urls": [server.url("ok", "pack.zip")], "member": "model.bin", "sha256": "0" * 64}
    store = make_store(tmp_path, entry([server.url("fail500")], archive=archive))

    with pytest.raises(DownloadError) as caught:
        store.download("demo")

    details = "\n".join(caught.value.details)
    assert "zip: sha256 mismatch" in details and "HTTP 500" in caught.value.one_line()
    assert leftovers(store.directory) == []


# --- the CLI, through a --models folder whose manifest has URLs ---------------------------------


def _manifest_dir(tmp_path: Path, urls: list[str]) -> Path:
    directory = tmp_path / "kit"
    directory.mkdir()
    (directory / "manifest.json").write_text(json.dumps({"format": 1, "models": [entry(urls)]}))
    return directory


def test_cli_download_then_verify(server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _manifest_dir(tmp_path, [server.url("ok")])

    assert main(["--models", str(directory), "models", "download", "demo"]) == 0
    assert (directory / "demo.onnx").read_bytes() == PAYLOAD
    assert main(["--models", str(directory), "models", "verify"]) == 0
    assert "demo: ok" in capsys.readouterr().out

    (directory / "demo.onnx").write_bytes(WRONG)
    assert main(["--models", str(directory), "models", "verify", "demo"]) != 0
    err = capsys.readouterr().err
    assert "fails its hash check" in err and err.count("\n") == 1


def test_cli_download_offline_prints_one_line_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/demo.onnx"
    directory = _manifest_dir(tmp_path, [url])

    assert main(["--models", str(directory), "models", "download", "demo"]) != 0

    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # what failed and the fix, then where the details are
    assert err[0].startswith("swapcast: error: could not download demo: connection refused")
    assert url in err[0] and str(directory) in err[0]
    assert err[1] == "swapcast: every URL tried and why it failed: add --verbose"
    assert not (directory / "demo.onnx").exists() and not (directory / "demo.onnx.part").exists()


def test_cli_download_of_several_models_offline_is_one_short_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    directory = tmp_path / "kit"
    directory.mkdir()
    models = [dict(entry([f"{dead}/{name}/a.onnx", f"{dead}/{name}/b.onnx", f"{dead}/{name}/c.onnx"]),
                   id=name, file=f"{name}.onnx", default=name == "one") for name in ("one", "two", "three")]
    (directory / "manifest.json").write_text(json.dumps({"format": 1, "models": models}))

    assert main(["--models", str(directory), "models", "download", "--all"]) != 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5 and all(len(line) < 300 for line in lines)
    # One line first: what failed and the one fix, for all of them.
    assert lines[0].startswith("swapcast: error: 3 of 3 models were not downloaded — run "
                               "`swapcast models download --all` again once online")
    assert f"put the files into {directory} by hand" in lines[0]
    for line, name in zip(lines[1:], ("one", "two", "three")):
        assert line.startswith(f"swapcast: error: could not download {name}: connection refused")
        assert f"put {name}.onnx into {directory} by hand (from {dead}/{name}/a.onnx)" in line
    assert lines[4] == "swapcast: every URL tried and why it failed: add --verbose"

    assert main(["--models", str(directory), "models", "download", "three", "one"]) != 0
    summary = capsys.readouterr().err.splitlines()[0]
    assert summary.startswith("swapcast: error: 2 of 2 models were not downloaded — run "
                              "`swapcast models download three one` again once online")

    assert main(["--models", str(directory), "models", "download", "two", "--verbose"]) != 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("swapcast: error: could not download two")
    assert lines[1:] == [f"    {dead}/two/a.onnx: connection refused by 127.0.0.1",
                         f"    {dead}/two/b.onnx: not tried: connection refused by 127.0.0.1",
                         f"    {dead}/two/c.onnx: not tried: connection refused by 127.0.0.1",
                         f"    expected sha256 {PAYLOAD_SHA}"]
