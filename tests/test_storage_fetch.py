"""URL inputs (app.storage.fetch): refused unless allowed; only public addresses, checked after DNS and
after every redirect, BEFORE any connection; size limit; resume; real format; timeout.

Every server here is real and listens on 127.0.0.1 (a port the OS picks). To make a "public" name
testable without traffic anywhere else, a stub resolver maps `media.example.test` to 127.0.0.1 and the
policy's test-only `allow_loopback_for_tests` lets that one address through; with the default policy
the same name is refused. Every connection urllib3 opens is recorded, so a refusal can be shown to
have happened before connecting.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import urllib3.util.connection
from PIL import Image

from app.media.sniff import MediaKind
from app.media.synth import make_clip
from app.storage.fetch import PROBE_BYTES, check_url_input, fetch_input, stable_stem
from app.storage.fetch_policy import FetchPolicy
from app.storage.http_download import FetchCancelled
from app.storage.url_guard import address_refusal
from app.storage.head import head_kind
from engines.errors import InputError, TransientError

NAME = "media.example.test"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    location: str | None = None
    ranges: bool = True  # honours Range with 206 + Content-Range
    drop_after: int | None = None  # first request only: send this many bytes of the body, then hang up
    declare_length: bool = True
    etag: str | None = None
    trickle: int | None = None  # first request only: this many bytes every 20 ms (a crawling server)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                if route.location is not None:
                    self.send_response(route.status)
                    self.send_header("Location", route.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status, start = route.body, route.status, 0
                wanted = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if wanted and route.ranges and (if_range is None or if_range == route.etag):
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", route.content_type)
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.declare_length:
                    self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if route.drop_after is not None:
                    self.wfile.write(body[:route.drop_after])
                    self.wfile.flush()
                    route.drop_after = None  # the next request gets the rest
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if route.trickle is not None:
                    step, route.trickle = route.trickle, None  # the next request gets the rest at once
                    try:
                        for at in range(start, len(body), step):
                            self.wfile.write(body[at:at + step])
                            self.wfile.flush()
                            time.sleep(0.02)
                    except OSError:
                        pass  # the client gave up on it
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str, host: str = NAME) -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    running = LocalServer()
    running.thread.start()
    try:
        yield running
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()
        running.thread.join(timeout=10)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address urllib3 connects to, in order."""
    made: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def record(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        made.append((address[0], address[1]))
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", record)
    return made


def resolver(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(f"{host}: not in the test's table")
        return table[host]
    return resolve


def test_policy(**overrides: object) -> FetchPolicy:
    """The success cases: `media.example.test` → 127.0.0.1, and loopback let through (tests only)."""
    options: dict[str, object] = {"allow_urls": True, "max_bytes": 50 * 1024**2, "timeout_s": 5.0,
                                  "resolver": resolver({NAME: ["127.0.0.1"]}), "allow_loopback_for_tests": True}
    options.update(overrides)
    return FetchPolicy(**options)  # type: ignore[arg-type]


test_policy.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_clip(path, frames=45, width=160, height=120)
    return path.read_bytes()


@pytest.fixture(scope="module")
def png_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("png") / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    return path.read_bytes()


# ---- allowed and refused ------------------------------------------------------------------------------


def test_url_inputs_are_refused_unless_allowed(server: LocalServer, clip_bytes: bytes, tmp_path: Path,
                                               connections: list[tuple[str, int]]) -> None:
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"URL inputs are off.*--allow-urls") as caught:
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy(allow_urls=False))
    assert "\n" not in str(caught.value)
    assert connections == [] and server.seen == []


def test_a_video_url_is_fetched_through_the_checked_address_with_its_host_name(
        server: LocalServer, clip_bytes: bytes, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    server.routes["/media/clip.mp4"] = Route(clip_bytes, "video/mp4")
    seen_progress: list[tuple[int, int | None]] = []
    path = fetch_input(server.url("/media/clip.mp4?sig=secret"), tmp_path, policy=test_policy(),
                       progress=lambda done, total: seen_progress.append((done, total)))
    assert path.read_bytes() == clip_bytes
    assert path.parent == tmp_path and path.suffix == ".mp4" and path.name.startswith("clip-")
    assert not list(tmp_path.glob("*.part"))
    assert connections == [("127.0.0.1", server.port)]
    assert server.seen[0].headers["host"] == f"{NAME}:{server.port}"
    assert seen_progress[-1] == (len(clip_bytes), len(clip_bytes))
    # A retry of the same job finds the checked file and fetches nothing.
    assert fetch_input(server.url("/media/clip.mp4?sig=secret"), tmp_path, policy=test_policy()) == path
    assert len(server.seen) == 1


def test_a_picture_gets_its_real_extension_whatever_the_url_says(server: LocalServer, png_bytes: bytes,
                                                                  tmp_path: Path) -> None:
    server.routes["/avatar"] = Route(png_bytes, "image/png")
    path = fetch_input(server.url("/avatar"), tmp_path, policy=test_policy())
    assert path.suffix == ".png" and path.read_bytes() == png_bytes


def test_a_redirect_chain_of_three_hops_is_followed_and_checked_at_every_hop(
        server: LocalServer, clip_bytes: bytes, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    server.routes["/a"] = Route(status=301, location="/b")
    server.routes["/b"] = Route(status=302, location=server.url("/c"))
    server.routes["/c"] = Route(status=307, location="/files/clip.mp4")
    server.routes["/files/clip.mp4"] = Route(clip_bytes, "video/mp4")
    path = fetch_input(server.url("/a"), tmp_path, policy=test_policy())
    assert path.read_bytes() == clip_bytes
    assert [s.path for s in server.seen] == ["/a", "/b", "/c", "/files/clip.mp4"]
    assert len(connections) == 4  # one checked, pinned connection per hop


def test_more_than_five_redirects_are_refused(server: LocalServer, tmp_path: Path) -> None:
    for hop in range(6):
        server.routes[f"/r{hop}"] = Route(status=302, location=f"/r{hop + 1}")
    server.routes["/r6"] = Route(b"never reached", "video/mp4")
    with pytest.raises(InputError, match=r"more than 5 redirects"):
        fetch_input(server.url("/r0"), tmp_path, policy=test_policy())
    assert "/r6" not in [s.path for s in server.seen]
    assert not list(tmp_path.iterdir())


def test_a_public_looking_name_that_resolves_to_loopback_is_refused_before_connecting(
        server: LocalServer, clip_bytes: bytes, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4")
    policy = FetchPolicy(allow_urls=True, max_bytes=10**8, timeout_s=5, resolver=resolver({NAME: ["127.0.0.1"]}))
    with pytest.raises(InputError, match=rf"{NAME} \(127\.0\.0\.1\) is this machine \(loopback\)"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=policy)
    assert connections == [] and server.seen == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(tmp_path: Path,
                                                                     connections: list[tuple[str, int]]) -> None:
    policy = FetchPolicy(allow_urls=True, max_bytes=10**8, timeout_s=5,
                         resolver=resolver({NAME: ["93.184.215.14", "10.1.2.3"]}))
    with pytest.raises(InputError, match=r"10\.1\.2\.3.*private"):
        fetch_input(f"http://{NAME}/clip.mp4", tmp_path, policy=policy)
    assert connections == []


def test_a_redirect_to_the_metadata_service_is_refused_before_any_connection(
        server: LocalServer, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    server.routes["/clip.mp4"] = Route(status=302, location="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(InputError, match=r"169\.254\.169\.254 is a link-local address"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy())
    assert connections == [("127.0.0.1", server.port)]  # the first hop only; nothing towards 169.254.x


def test_a_redirect_to_a_name_resolving_to_a_private_address_is_refused(
        server: LocalServer, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    server.routes["/clip.mp4"] = Route(status=301, location="https://intranet.example.test/clip.mp4")
    policy = test_policy(resolver=resolver({NAME: ["127.0.0.1"], "intranet.example.test": ["192.168.1.20"]}))
    with pytest.raises(InputError, match=r"intranet\.example\.test \(192\.168\.1\.20\) is a private address"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=policy)
    assert connections == [("127.0.0.1", server.port)]


REFUSED = ["10.0.0.5", "192.168.0.10", "172.16.3.4", "::1", "fc00::1", "fe80::1", "224.0.0.1", "0.0.0.0", "::",
           "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "169.254.169.254", "127.8.9.10",
           "100.64.0.1", "240.0.0.1", "255.255.255.255", "ff02::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_as_resolved_names_and_as_literals(
        address: str, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    policy = FetchPolicy(allow_urls=True, max_bytes=10**8, timeout_s=5, resolver=resolver({NAME: [address]}))
    with pytest.raises(InputError, match=r"is refused: .* not a public address — give a URL on a public server"):
        fetch_input(f"https://{NAME}/clip.mp4", tmp_path, policy=policy)
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(InputError, match=r"is refused"):
        fetch_input(f"http://{literal}:8080/clip.mp4", tmp_path, policy=policy)
    assert connections == []


def test_the_test_only_loopback_flag_lets_through_loopback_and_nothing_else() -> None:
    assert address_refusal("127.0.0.1", allow_loopback=True) is None
    assert address_refusal("::ffff:127.0.0.1", allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254", "::ffff:192.168.1.1", "0.0.0.0"):
        assert address_refusal(address, allow_loopback=True) is not None
    assert address_refusal("93.184.215.14") is None and address_refusal("2606:4700::1111") is None
    assert FetchPolicy(allow_urls=True).allow_loopback_for_tests is False


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "ftp://media.example.test/clip.mp4",
                                 "gopher://media.example.test/1"])
def test_other_schemes_are_refused(uri: str, tmp_path: Path, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(InputError, match=r"is not a source SwapCast takes"):
        fetch_input(uri, tmp_path, policy=test_policy())
    assert connections == []


def test_a_redirect_to_file_scheme_is_refused(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/clip.mp4"] = Route(status=302, location="file:///etc/passwd")
    with pytest.raises(InputError, match=r"file:// is not a source"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy())


# ---- size, resume, format, timeout -------------------------------------------------------------------


def test_a_declared_oversized_download_is_refused_before_reading(server: LocalServer, clip_bytes: bytes,
                                                                 tmp_path: Path) -> None:
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"over the download limit of 1000 bytes") as caught:
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy(max_bytes=1000))
    assert f"({len(clip_bytes)} bytes)" in str(caught.value) and "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_an_undeclared_oversized_download_stops_at_the_limit_and_leaves_no_file(server: LocalServer,
                                                                                tmp_path: Path) -> None:
    server.routes["/endless.mp4"] = Route(b"\0" * (4 * 1024**2), "video/mp4", declare_length=False)
    got: list[int] = []
    with pytest.raises(InputError, match=r"over the download limit of 1.0 MB"):
        fetch_input(server.url("/endless.mp4"), tmp_path, policy=test_policy(max_bytes=1024**2),
                    progress=lambda done, total: got.append(done))
    assert max(got) <= 1024**2
    assert not list(tmp_path.iterdir())


def test_an_interrupted_download_resumes_with_range_and_completes(server: LocalServer, clip_bytes: bytes,
                                                                  tmp_path: Path) -> None:
    half = len(clip_bytes) // 2
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4", drop_after=half, etag='"v1"')
    uri = server.url("/clip.mp4")
    with pytest.raises(TransientError, match=r"broke off|ended after") as caught:
        fetch_input(uri, tmp_path, policy=test_policy())
    assert "resumes" in str(caught.value)
    part = tmp_path / f"{stable_stem(uri)}.part"
    assert part.read_bytes() == clip_bytes[:half]
    path = fetch_input(uri, tmp_path, policy=test_policy())
    assert server.seen[-1].headers["range"] == f"bytes={half}-"
    assert server.seen[-1].headers["if-range"] == '"v1"'  # the same file, or the whole new one
    assert path.read_bytes() == clip_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_crawling_server_is_given_up_on_and_the_download_resumes_later(server: LocalServer, clip_bytes: bytes,
                                                                         tmp_path: Path) -> None:
    # Never silent long enough for the read timeout, but far below the policy's minimum rate.
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4", trickle=64, etag='"v1"')
    uri = server.url("/clip.mp4")
    with pytest.raises(TransientError, match="crawled at") as caught:
        fetch_input(uri, tmp_path, policy=test_policy(min_rate_bytes_s=100_000.0, rate_window_s=0.3))
    assert "resumes" in str(caught.value)
    part = tmp_path / f"{stable_stem(uri)}.part"
    got = part.read_bytes()
    assert 0 < len(got) < len(clip_bytes) and got == clip_bytes[:len(got)]  # what came is kept, in order
    path = fetch_input(uri, tmp_path, policy=test_policy())  # the server is quick again
    assert server.seen[-1].headers["range"] == f"bytes={len(got)}-"
    assert path.read_bytes() == clip_bytes


def test_a_file_changed_since_the_interruption_is_fetched_whole_not_spliced(
        server: LocalServer, clip_bytes: bytes, png_bytes: bytes, tmp_path: Path) -> None:
    server.routes["/clip.mp4"] = Route(png_bytes * 4, "video/mp4", drop_after=len(png_bytes), etag='"v1"')
    uri = server.url("/clip.mp4")
    with pytest.raises(TransientError):
        fetch_input(uri, tmp_path, policy=test_policy())
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4", etag='"v2"')  # replaced meanwhile
    path = fetch_input(uri, tmp_path, policy=test_policy())
    assert server.seen[-1].headers["if-range"] == '"v1"'
    assert path.read_bytes() == clip_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_server_without_ranges_restarts_the_download(server: LocalServer, clip_bytes: bytes,
                                                       tmp_path: Path) -> None:
    half = len(clip_bytes) // 2
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4", drop_after=half, ranges=False)
    uri = server.url("/clip.mp4")
    with pytest.raises(TransientError):
        fetch_input(uri, tmp_path, policy=test_policy())
    path = fetch_input(uri, tmp_path, policy=test_policy())
    assert "range" in server.seen[-1].headers  # it asked, got a 200 with everything, and started over
    assert path.read_bytes() == clip_bytes


def test_a_text_file_named_mp4_is_refused_and_removed(server: LocalServer, tmp_path: Path) -> None:
    text = b"<html><body>not a video</body></html>\n" * 50
    server.routes["/clip.mp4"] = Route(text, "text/html")
    with pytest.raises(InputError, match=r"served as text/html, not a picture or a video"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy())
    server.routes["/disguised/clip.mp4"] = Route(text, "video/mp4")
    with pytest.raises(InputError, match=r"not a picture or a video SwapCast can read: .*clip\.mp4"):
        fetch_input(server.url("/disguised/clip.mp4"), tmp_path, policy=test_policy())
    assert not list(tmp_path.iterdir())


def test_a_picture_served_as_video_is_refused(server: LocalServer, png_bytes: bytes, tmp_path: Path) -> None:
    server.routes["/clip.mp4"] = Route(png_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"served as video/mp4 but holds a image"):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy())
    assert not list(tmp_path.iterdir())


def test_a_missing_file_is_an_input_error_and_a_server_error_is_transient(server: LocalServer,
                                                                          tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"answered 404"):
        fetch_input(server.url("/nothing.mp4"), tmp_path, policy=test_policy())
    server.routes["/busy.mp4"] = Route(b"", status=503)
    with pytest.raises(TransientError, match=r"answered 503"):
        fetch_input(server.url("/busy.mp4"), tmp_path, policy=test_policy())


@dataclass
class SilentServer:
    """Accepts connections (the kernel does, from the backlog) and never answers a byte."""

    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    server.sock.bind(("127.0.0.1", 0))
    server.sock.listen(8)
    try:
        yield server
    finally:
        server.sock.close()


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_times_out(silent: SilentServer, tmp_path: Path) -> None:
    with pytest.raises(TransientError, match=r"did not answer within 0.5 s"):
        fetch_input(f"http://{NAME}:{silent.port}/clip.mp4", tmp_path, policy=test_policy(timeout_s=0.5))


def test_a_cancelled_download_keeps_its_part_for_a_resume(server: LocalServer, tmp_path: Path,
                                                          clip_bytes: bytes) -> None:
    server.routes["/clip.mp4"] = Route(clip_bytes * 20, "video/mp4")  # several chunks
    calls = iter([False, True])
    with pytest.raises(FetchCancelled):
        fetch_input(server.url("/clip.mp4"), tmp_path, policy=test_policy(), cancelled=lambda: next(calls, True))
    assert list(tmp_path.glob("*.part"))


def test_object_uris_go_to_the_object_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            clip_bytes: bytes) -> None:
    import sys
    import types

    asked: list[tuple[str, Path, int]] = []

    def download_object(uri: str, dest: Path, *, max_bytes: int, progress: object, cancelled: object) -> Path:
        asked.append((uri, dest, max_bytes))
        dest.write_bytes(clip_bytes)
        return dest

    fake = types.ModuleType("app.storage.download")
    fake.download_object = download_object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.storage.download", fake)
    policy = FetchPolicy(allow_urls=False, max_bytes=10**8, timeout_s=5)  # URLs off: objects still fetched
    path = fetch_input("s3://bucket/in/clip.mp4", tmp_path, policy=policy)
    assert path.suffix == ".mp4" and path.read_bytes() == clip_bytes
    assert asked[0][0] == "s3://bucket/in/clip.mp4" and asked[0][2] == 10**8
    assert fetch_input("studio:in/face.mp4", tmp_path / "p", policy=policy).read_bytes() == clip_bytes


# ---- https: pinned to the checked address, the name kept for SNI and the certificate check ------------


@pytest.fixture
def tls_server(tmp_path: Path, clip_bytes: bytes) -> Iterator[tuple[LocalServer, list[str | None]]]:
    """An https server on 127.0.0.1 with a self-signed certificate for media.example.test; it records
    the name each client asked for in its TLS hello (SNI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the TLS test")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
                   check=True, capture_output=True)
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment, misc, return-value]
    running = LocalServer()
    running.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4")
    running.httpd.socket = context.wrap_socket(running.httpd.socket, server_side=True)
    running.thread.start()
    try:
        yield running, names
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()
        running.thread.join(timeout=10)


def test_https_connects_to_the_checked_address_and_verifies_the_certificate_for_the_name(
        tls_server: tuple[LocalServer, list[str | None]], tmp_path: Path,
        connections: list[tuple[str, int]]) -> None:
    server, names = tls_server
    url = f"https://{NAME}:{server.port}/clip.mp4"
    # The certificate is self-signed: the check (made for the name, not for 127.0.0.1) refuses it.
    with pytest.raises(InputError, match=r"the TLS connection failed \(.*certificate") as caught:
        fetch_input(url, tmp_path / "a", policy=test_policy())
    assert "\n" not in str(caught.value)
    assert connections == [("127.0.0.1", server.port)]
    assert names == [NAME]  # SNI carried the name although the connection went to the address
    assert server.seen == []


# ---- before a job is queued: the start of the file -------------------------------------------------


def test_the_check_before_queueing_names_the_format_of_a_long_file_and_writes_nothing(
        server: LocalServer, clip_bytes: bytes, png_bytes: bytes, tmp_path: Path) -> None:
    big = clip_bytes + b"\0" * (4 * 1024**2)  # a long file: only its start is read (PROBE_BYTES)
    server.routes["/clip.mp4"] = Route(big, "video/mp4")
    server.routes["/face"] = Route(png_bytes, "application/octet-stream")
    found = check_url_input(server.url("/clip.mp4"), policy=test_policy())
    assert (found.kind, found.format) == (MediaKind.VIDEO, "MP4/QuickTime")
    assert check_url_input(server.url("/face"), policy=test_policy()).kind is MediaKind.IMAGE
    assert not list(tmp_path.iterdir())  # nothing written anywhere


@pytest.mark.parametrize(("route", "expected"), [
    (Route(b"<html>a page</html>" * 10, "video/mp4"), "is not a picture or a video SwapCast can read (it starts with text '<html>a page</ht'"),
    (Route(b"\x00\x01\x02\x03" * 10, ""), "(it starts with bytes 00 01 02 03"),
    (Route(b"<html>a page</html>", "text/html"), "is served as text/html, not a picture or a video"),
    (Route(b"", status=404), "answered 404"),
])
def test_the_check_before_queueing_refuses_what_is_not_a_picture_or_a_video(
        server: LocalServer, route: Route, expected: str) -> None:
    server.routes["/clip.mp4"] = route
    with pytest.raises(InputError) as caught:
        check_url_input(server.url("/clip.mp4"), policy=test_policy())
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_the_check_before_queueing_refuses_a_picture_served_as_video_and_an_oversized_file(
        server: LocalServer, png_bytes: bytes, clip_bytes: bytes) -> None:
    server.routes["/clip.mp4"] = Route(png_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"served as video/mp4 but holds a image"):
        check_url_input(server.url("/clip.mp4"), policy=test_policy())
    server.routes["/big.mp4"] = Route(clip_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"over the download limit of 1000 bytes"):
        check_url_input(server.url("/big.mp4"), policy=test_policy(max_bytes=1000))


def test_the_check_before_queueing_applies_every_address_rule(server: LocalServer, clip_bytes: bytes,
                                                              connections: list[tuple[str, int]]) -> None:
    server.routes["/clip.mp4"] = Route(clip_bytes, "video/mp4")
    with pytest.raises(InputError, match=r"URL inputs are off"):
        check_url_input(server.url("/clip.mp4"), policy=test_policy(allow_urls=False))
    with pytest.raises(InputError, match=r"is this machine \(loopback\)"):  # the real policy: no test hook
        check_url_input(server.url("/clip.mp4"), policy=FetchPolicy(allow_urls=True, resolver=resolver({NAME: ["127.0.0.1"]})))
    assert connections == []
    server.routes["/meta.mp4"] = Route(status=302, location="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(InputError, match=r"169\.254\.169\.254 is a link-local address"):
        check_url_input(server.url("/meta.mp4"), policy=test_policy())
    assert connections == [("127.0.0.1", server.port)]


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".bmp", ".tiff", ".gif"])
def test_the_start_of_each_picture_format_is_recognised(extension: str, tmp_path: Path) -> None:
    path = tmp_path / f"face{extension}"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    found = head_kind(path.read_bytes()[:PROBE_BYTES])
    assert found is not None
    assert found.kind is (MediaKind.VIDEO if extension == ".gif" else MediaKind.IMAGE)  # a GIF is an animation


@pytest.mark.parametrize(("extension", "codec"), [(".mp4", "libx264"), (".mov", "libx264"), (".mkv", "libx264"),
                                                  (".webm", "libvpx-vp9"), (".avi", "mpeg4")])
def test_the_start_of_each_video_container_is_recognised(extension: str, codec: str, tmp_path: Path) -> None:
    path = tmp_path / f"clip{extension}"
    make_clip(path, frames=3, width=64, height=48, codec=codec)
    found = head_kind(path.read_bytes()[:PROBE_BYTES])
    assert found is not None and found.kind is MediaKind.VIDEO, path.read_bytes()[:16]
