"""A remote input streamed into a job's folder: `https://…` / `http://…` here, object URIs (`s3://`,
`gs://`, `r2://`, `PROFILE:key`) through app.storage.download.

http(s) rules (server-side request forgery is the risk: a job must not make SwapCast read the cloud's
metadata service, the LAN or this machine on a user's behalf):
- URL inputs are refused unless the policy allows them (`--allow-urls`; on the server, its setting).
- Only http and https; `file://`, `ftp://`… are refused (app.storage.uri).
- The host is resolved first and EVERY address it resolves to must be public: loopback, private,
  link-local (169.254.169.254), multicast, reserved, unspecified, shared (100.64/10) and the
  IPv4-mapped forms of those are refused before any connection. Redirects are followed here, one at a
  time (at most `max_redirects`), and each new location is resolved and checked the same way.
- The connection goes to the checked address itself (no second lookup that could rebind the name);
  the request keeps the name in its Host header and, for https, in the TLS SNI and certificate check.
  The environment's proxy settings are not used (a proxy would resolve the name again).

Downloads stream to `<dest_dir>/<stable name>.part` (the name comes from the URI, so a retry finds the
part and asks for the rest with `Range`; the answer is used only when it is 206 with a matching
`Content-Range`, otherwise the download starts over). The size limit is checked against the declared
length first, then counted; past it the part is removed. The declared Content-Type must say picture,
video or nothing specific, and once complete the bytes themselves must be a picture or a video
(app.media.sniff); the file is then renamed `<stable name><real extension>`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from app.media.sniff import PICTURES, VIDEOS, sniff_media
from engines.errors import InputError, SwapCastError, TransientError
from engines.external.origin import Origin

from .head import Head, describe_start, head_kind
from .uri import UriKind, looks_like_profile_uri, uri_kind

Progress = Callable[[int, int | None], None]
Cancelled = Callable[[], bool]

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MIN_RATE_BYTES_S = 1024.0
DEFAULT_RATE_WINDOW_S = 60.0
PROBE_BYTES = 64 * 1024  # what check_url_input reads before a job is queued
_CHUNK = 1 << 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
MEDIA_EXTENSIONS = frozenset(ext for table in (PICTURES, VIDEOS) for exts in table.values() for ext in exts)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class Resolver(Protocol):
    def __call__(self, host: str, port: int) -> Sequence[str]:
        """Every address `host` resolves to (strings, as socket.getaddrinfo gives them)."""
        ...


def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (DNS, /etc/hosts), as a plain connection would use it."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class FetchPolicy:
    allow_urls: bool
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S  # to connect, and for each read (a server silent this long fails)
    # A server that never goes silent but crawls (a byte every few seconds) would hold the job for ever:
    # below this average rate over a whole window, the download stops (resumable, retried later).
    min_rate_bytes_s: float = DEFAULT_MIN_RATE_BYTES_S
    rate_window_s: float = DEFAULT_RATE_WINDOW_S
    max_redirects: int = 5
    resolver: Resolver = field(default=system_resolver, kw_only=True)
    # TEST-ONLY: lets the tests' servers on 127.0.0.1 stand in for public hosts. Never settable from
    # the CLI, the API, the server's settings or any file; nothing but tests constructs it True.
    allow_loopback_for_tests: bool = field(default=False, kw_only=True)


class FetchCancelled(SwapCastError):
    """The user stopped the download; the `.part` stays for a later resume."""

    exit_code = 130


def fetch_input(uri: str, dest_dir: Path, *, policy: FetchPolicy, progress: Progress | None = None,
                cancelled: Cancelled | None = None) -> Path:
    """Stream a remote input into `dest_dir` and return the local file (named `<stable name><real ext>`).

    InputError (one line) for a refused, oversized, unreachable or non-media input; TransientError for
    a network failure worth retrying (the `.part` stays, and the retry resumes it); FetchCancelled when
    `cancelled()` turned true."""
    kind = uri_kind(uri)  # InputError for file://, ftp://…
    if kind is UriKind.HTTP and not policy.allow_urls:
        raise _urls_off(uri)
    dest_dir = Path(dest_dir)
    stem = stable_stem(uri)
    done = _already_fetched(dest_dir, stem)
    if done is not None:
        return done
    if kind is UriKind.HTTP:
        return _fetch_http(uri, dest_dir, stem, policy, progress, cancelled)
    if kind is UriKind.LOCAL and not looks_like_profile_uri(uri):
        raise InputError(f"{uri} is a local path, not a remote input", "give it to the job as a path")
    try:
        from app.storage.download import download_object  # the store's part; imported when first needed
    except ImportError:
        raise InputError(f"{uri}: object storage inputs are not available in this build",
                         "download the file and give its path") from None
    dest_dir.mkdir(parents=True, exist_ok=True)
    got = download_object(uri, dest_dir / f"{stem}.part", max_bytes=policy.max_bytes, progress=progress,
                          cancelled=cancelled)
    return _finish(Path(got), dest_dir, stem, _shown(uri), declared_type="")


def check_url_input(uri: str, *, policy: FetchPolicy) -> Head:
    """Before a job is queued: the URL, after DNS and every redirect, is on a public address and
    answers; it is declared a picture, a video or nothing specific, no larger than the limit; and its
    first bytes are a picture's or a video's, of the declared kind. Only the first PROBE_BYTES are
    read (the job fetches the file, and checks all of it, when it runs).

    InputError (one line) for a refused, missing, oversized or non-media URL; TransientError for a
    server that is busy or does not answer."""
    if uri_kind(uri) is not UriKind.HTTP:
        raise InputError(f"{_shown(uri)} is not an http(s) URL", "give an https:// URL")
    if not policy.allow_urls:
        raise _urls_off(uri)
    shown = _shown(uri)
    session, response = _open(uri, policy)
    try:
        _check_status(response, shown)
        declared_type = _check_type(response, shown)
        total = _declared_total(response, 0)
        if total is not None and total > policy.max_bytes:
            raise _too_large(shown, policy.max_bytes, total)
        start = _read_start(response, shown, PROBE_BYTES)
    finally:
        response.close()
        session.close()
    found = head_kind(start)
    if found is None:
        raise InputError(f"{shown} is not a picture or a video SwapCast can read ({describe_start(start)})",
                         "give the URL of the file itself (.mp4, .mov, .png, .jpg…), not of a web page")
    _check_declared(declared_type, found.kind.value, found.format == "GIF", shown)
    return found


def _urls_off(uri: str) -> InputError:
    return InputError(f"URL inputs are off: {_shown(uri)}",
                      "download the file and give its path, or allow URL inputs (--allow-urls; on the "
                      "server, its allow-URLs setting)")


def _read_start(response: requests.Response, shown: str, size: int) -> bytes:
    start = b""
    for chunk in _chunks(response, shown, lambda: len(start)):
        start += chunk
        if len(start) >= size:
            break
    return start[:size]


def stable_stem(uri: str) -> str:
    """`<file name>-<hash of the URI>`: the same URI always lands on the same `.part` in a folder."""
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
    base = Path(urlsplit(uri).path).stem if "://" in uri else Path(uri.partition(":")[2]).stem
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_")[:40]
    return f"{base}-{digest}" if base else digest


def _already_fetched(dest_dir: Path, stem: str) -> Path | None:
    """A previous attempt of this job already fetched and checked this input."""
    if not dest_dir.is_dir():
        return None
    for candidate in sorted(dest_dir.glob(f"{stem}.*")):
        if candidate.suffix in MEDIA_EXTENSIONS and candidate.is_file():
            return candidate
    return None


def _shown(uri: str) -> str:
    """The URI for messages: without credentials, query (presigned tokens) or fragment."""
    parts = urlsplit(uri)
    if not parts.scheme or "://" not in uri:
        return uri
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# ---- where a URL may go ------------------------------------------------------------------------------


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to `address` is refused (a few words), or None when it is a public address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "this machine (loopback)"
    for refused, what in ((ip.is_unspecified, "unspecified"), (ip.is_link_local, "link-local"),
                          (ip.is_multicast, "multicast"), (ip.is_private, "private"),
                          (ip.is_reserved, "reserved")):
        if refused:
            return f"a {what} address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class _Target:
    url: str
    origin: Origin
    address: str  # the checked address the connection goes to


def _checked_target(url: str, policy: FetchPolicy) -> _Target:
    """Resolve `url`'s host and check every address; InputError (before any connection) if refused."""
    shown = _shown(url)
    if uri_kind(url) is not UriKind.HTTP:
        raise InputError(f"{shown}: only http(s) URLs are fetched", "give an https:// URL or a local path")
    origin = Origin.of(url)
    if not origin.host:
        raise InputError(f"{shown} has no host name", "give a whole URL: https://host/path/file.mp4")
    try:
        ipaddress.ip_address(origin.host.split("%", 1)[0])
        addresses: Sequence[str] = [origin.host]
    except ValueError:
        try:
            addresses = policy.resolver(origin.host, origin.port)
        except (OSError, UnicodeError) as error:
            raise InputError(f"{shown}: {origin.host} does not resolve ({error})",
                             "check the URL's host name and this machine's network") from None
    if not addresses:
        raise InputError(f"{shown}: {origin.host} does not resolve", "check the URL's host name")
    for address in addresses:
        why = address_refusal(address, allow_loopback=policy.allow_loopback_for_tests)
        if why is not None:
            where = origin.host if address == origin.host else f"{origin.host} ({address})"
            raise InputError(f"{shown} is refused: {where} is {why}, not a public address",
                             "give a URL on a public server, or download the file and give its path")
    return _Target(url, origin, addresses[0])


class _PinnedAdapter(HTTPAdapter):
    """Connects to the URL's (already checked) IP address while TLS uses the host name for SNI and
    for the certificate check."""

    def __init__(self, host_name: str) -> None:
        self._host_name = host_name
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: Any,
                                             cert: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._host_name
            pool_kwargs["assert_hostname"] = self._host_name
        return host_params, pool_kwargs


def _send(target: _Target, policy: FetchPolicy, offset: int,
          if_range: str | None) -> tuple[requests.Session, requests.Response]:
    parts = urlsplit(target.url)
    origin = target.origin
    ip = f"[{target.address}]" if ":" in target.address else target.address
    pinned = urlunsplit((origin.scheme, f"{ip}:{origin.port}", parts.path or "/", parts.query, ""))
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    default_port = {"http": 80, "https": 443}[origin.scheme]
    headers = {"Host": host if origin.port == default_port else f"{host}:{origin.port}",
               "Accept-Encoding": "identity", "User-Agent": "SwapCast"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if if_range:
            headers["If-Range"] = if_range  # a changed file comes back whole (200), not as a spliced rest
    session = requests.Session()
    session.trust_env = False  # no proxy (it would resolve the name again), no .netrc
    session.mount(f"{origin.scheme}://", _PinnedAdapter(origin.host))
    shown = _shown(target.url)
    try:
        response = session.get(pinned, headers=headers, stream=True, allow_redirects=False,
                               timeout=(policy.timeout_s, policy.timeout_s))
    except requests.exceptions.SSLError as error:
        session.close()
        raise InputError(f"{shown}: the TLS connection failed ({_reason(error)})",
                         "check the URL (https with a valid certificate)") from None
    except requests.exceptions.Timeout:
        session.close()
        raise TransientError(f"{shown} did not answer within {policy.timeout_s:g} s",
                             "try again later, or download the file and give its path") from None
    except requests.exceptions.RequestException as error:
        session.close()
        raise InputError(f"{shown} is unreachable ({_reason(error)})",
                         "check the URL and that the server is up") from None
    return session, response


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


def _open(url: str, policy: FetchPolicy, offset: int = 0,
          if_range: str | None = None) -> tuple[requests.Session, requests.Response]:
    """Follow redirects ourselves, checking every hop before connecting to it."""
    for _hop in range(policy.max_redirects + 1):
        target = _checked_target(url, policy)
        session, response = _send(target, policy, offset, if_range)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location:
            return session, response
        response.close()
        session.close()
        url = urljoin(url, location)
    raise InputError(f"{_shown(url)}: more than {policy.max_redirects} redirects",
                     "give the file's final URL")


# ---- the download ------------------------------------------------------------------------------------


def _fetch_http(uri: str, dest_dir: Path, stem: str, policy: FetchPolicy, progress: Progress | None,
                cancelled: Cancelled | None) -> Path:
    shown = _shown(uri)
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{stem}.part"
    memo = _memo_of(part)  # what the part is a piece of: its validator, its whole size
    offset = part.stat().st_size if part.is_file() else 0
    previous = _read_memo(memo) if offset else {}
    session, response = _open(uri, policy, offset, previous.get("validator"))
    try:
        if offset and response.status_code == 200:
            offset = 0  # the server sent the whole file instead (changed, or no ranges): start over with it
        elif offset and response.status_code in (206, 416) and not _resumes(response, offset, previous.get("total")):
            response.close()
            session.close()
            _discard(part)  # a range that does not fit the part (or 416): start over
            offset = 0
            session, response = _open(uri, policy)
        _check_status(response, shown)
        declared_type = _check_type(response, shown, part)
        total = _declared_total(response, offset)
        if total is not None and total > policy.max_bytes:
            _discard(part)
            raise _too_large(shown, policy.max_bytes, total)
        encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        if encoded:
            # The server compressed it anyway: lengths and ranges count the compressed bytes, so the
            # decoded file can neither be checked against them nor resumed.
            total = None
            memo.unlink(missing_ok=True)
        elif offset == 0:
            _write_memo(memo, response, total)
        try:
            _stream(response, part, offset, total, shown, policy, progress, cancelled)
        except TransientError:
            if encoded:
                _discard(part)
            raise
    finally:
        response.close()
        session.close()
    memo.unlink(missing_ok=True)
    return _finish(part, dest_dir, stem, shown, declared_type)


def _memo_of(part: Path) -> Path:
    return part.with_name(f"{part.name.removesuffix('.part')}.resume.json")


def _discard(part: Path) -> None:
    """The part cannot be continued: remove it and what was noted about it."""
    part.unlink(missing_ok=True)
    _memo_of(part).unlink(missing_ok=True)


def _read_memo(memo: Path) -> dict[str, Any]:
    try:
        found = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_memo(memo: Path, response: requests.Response, total: int | None) -> None:
    """A strong ETag (or Last-Modified) and the size, so a resume continues the same file only."""
    etag = response.headers.get("etag", "").strip()
    validator = etag if etag and not etag.startswith("W/") else response.headers.get("last-modified")
    memo.write_text(json.dumps({"validator": validator, "total": total}), encoding="utf-8")


def _resumes(response: requests.Response, offset: int, total: int | None) -> bool:
    """A 206 whose Content-Range starts where the part ends (and of a file of the size the part was
    a piece of, when that was known); anything else means start over."""
    if response.status_code != 206:
        return False
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if not match or int(match.group(1)) != offset:
        return False
    return total is None or match.group(3) == str(total)


def _check_status(response: requests.Response, shown: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    what = f"{shown} answered {status} {response.reason or ''}".rstrip()
    if status in (408, 425, 429) or status >= 500:
        raise TransientError(what, "try again later")
    if status in _REDIRECTS:
        raise InputError(f"{what} without a Location", "give the file's final URL")
    raise InputError(what, "check the URL (and that the file is public)")


def _check_type(response: requests.Response, shown: str, part: Path | None = None) -> str:
    """The declared Content-Type, when it says a picture, a video or nothing specific."""
    declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared in _GENERIC_TYPES or declared.startswith(("image/", "video/")):
        return declared
    if part is not None:
        _discard(part)
    raise InputError(f"{shown} is served as {declared}, not a picture or a video",
                     "give the URL of the file itself (.mp4, .mov, .png, .jpg…), not of a web page")


def _declared_total(response: requests.Response, offset: int) -> int | None:
    """The whole file's size, when the server says it."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match and match.group(3) != "*":
            return int(match.group(3))
        return None
    length = response.headers.get("content-length", "").strip()
    return int(length) if length.isdigit() else None


def _too_large(shown: str, max_bytes: int, size: int | None = None) -> InputError:
    said = f" ({_mb(size)})" if size is not None else ""
    return InputError(f"{shown} is over the download limit of {_mb(max_bytes)}{said}",
                      "give a smaller file, or raise the limit")


def _mb(size: int) -> str:
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{size} bytes"


def _stream(response: requests.Response, part: Path, offset: int, total: int | None, shown: str,
            policy: FetchPolicy, progress: Progress | None, cancelled: Cancelled | None) -> None:
    done = offset
    window_start, window_done = time.monotonic(), done
    with part.open("ab" if offset else "wb") as out:
        for chunk in _chunks(response, shown, lambda: done):
            if cancelled is not None and cancelled():
                raise FetchCancelled(f"the download of {shown} was stopped", "run the job again to resume it")
            if done + len(chunk) > policy.max_bytes:
                break
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            elapsed = time.monotonic() - window_start
            if elapsed >= policy.rate_window_s:
                rate = (done - window_done) / elapsed
                if rate < policy.min_rate_bytes_s:
                    raise TransientError(f"the download of {shown} crawled at {rate:.0f} bytes/s for "
                                         f"{elapsed:.0f} s (after {_mb(done)})",
                                         "try again later: the download resumes where it stopped")
                window_start, window_done = time.monotonic(), done
        else:
            if total is not None and done != total:
                raise TransientError(f"the download of {shown} ended after {_mb(done)} of {_mb(total)}",
                                     "try again: the download resumes where it stopped")
            return
    _discard(part)
    raise _too_large(shown, policy.max_bytes)


def _chunks(response: requests.Response, shown: str, done: Callable[[], int]) -> Iterator[bytes]:
    """The body as it arrives: read1 hands over every byte received before a connection breaks (a
    whole-chunk read would drop them), so the `.part` holds all of them for the resume."""
    while True:
        try:
            data = response.raw.read1(_CHUNK, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TransientError(f"the download of {shown} broke off after {_mb(done())} ({_reason(error)})",
                                 "try again: the download resumes where it stopped") from None
        if not data:
            return
        yield data


def _finish(part: Path, dest_dir: Path, stem: str, shown: str, declared_type: str) -> Path:
    """Check the real format; rename to `<stem><real extension>`. A non-media file is removed."""
    try:
        found = sniff_media(part, shown)
    except InputError:
        _discard(part)
        raise
    try:
        _check_declared(declared_type, found.kind.value, found.extension == ".gif", shown)
    except InputError:
        _discard(part)
        raise
    final = dest_dir / f"{stem}{found.extension}"
    part.replace(final)
    return final


def _check_declared(declared_type: str, kind: str, gif: bool, shown: str) -> None:
    """The declared Content-Type's kind (image/, video/) is the one the bytes hold."""
    declared = declared_type.split("/")[0] if declared_type not in _GENERIC_TYPES else ""
    # A GIF is a picture to browsers (image/gif) and an animation (a video target) to SwapCast.
    if declared and declared != kind and not gif:
        raise InputError(f"{shown} is served as {declared_type} but holds a {kind}",
                         "check that the URL names the file you meant")


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT_S", "PROBE_BYTES", "FetchCancelled", "FetchPolicy", "Resolver",
           "address_refusal", "check_url_input", "fetch_input", "stable_stem", "system_resolver"]
