"""Resumable, hash-checked model downloads over plain HTTP(S) (stdlib urllib).

Bytes stream into `<file>.part` beside the target. A `.part` left by an interrupted run is resumed
with an HTTP Range request; a server that ignores Range (answers 200) restarts it from zero. The
finished `.part` is renamed over the target only after its sha256 matched, so a file under the
model's own name is always complete and verified. A model with no pinned sha256 whose publisher
serves a checksum sidecar (FaceFusion's CRC32 `.hash`) must match that sidecar, fetched from the same
host, before its sha256 is recorded (trust on first use). On an HTTP or connection error, or a hash
mismatch, the next URL (the mirror) is tried; when all fail, one DownloadError line names every
URL with its reason and the folder to put the file in by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from engines.errors import DownloadError

from .catalog import ModelSpec, PublisherHash
from .hashing import CHUNK_BYTES, record_first_sha256, recorded_sha256, remember_sha256

Progress = Callable[[int, int | None], None]
Warn = Callable[[str], None]

# One timeout serves for connecting and for each read: offline (no DNS, refused, unreachable)
# fails at once, a black-holed host within this many seconds, and a stalled transfer is abandoned
# (and resumed from the next URL) instead of hanging forever.
DEFAULT_TIMEOUT_S = 10.0
# A transfer that moved bytes and then broke is retried on the same URL this many times (resuming).
MAX_ATTEMPTS_PER_URL = 3
USER_AGENT = "SwapCast-models/1 (+https://github.com/)"
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    url: str
    recorded: bool  # True when the catalog had no hash and this download's hash was recorded
    publisher_checked: str | None = None  # e.g. "crc32 3f2a9c1d": the publisher's sidecar it matched


class _SourceFailed(Exception):
    """One URL did not deliver; `transient` + `progressed` mean 'worth resuming on this URL'."""

    def __init__(
        self, reason: str, *, transient: bool = False, progressed: bool = False, host_down: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.progressed = progressed
        self.host_down = host_down  # no connection at all: other URLs on this host will fail alike


class _HostDown(Exception):
    """Raised out of a source attempt when its host could not be connected to at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _DiskError(Exception):
    """Writing locally failed (disk full, permissions): no mirror can fix that."""


def download_model(
    spec: ModelSpec,
    directory: Path,
    *,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    warn: Warn | None = None,
) -> DownloadResult:
    """Fetch `spec` into `directory` from its URLs in order; raise DownloadError if none delivers."""
    target = directory / spec.file
    if not spec.all_urls:
        raise DownloadError(
            f"model {spec.id!r} has no download URL",
            f"put {spec.file} into {directory} by hand",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the models folder {directory}: {error.strerror or error}") from None
    # No published hash: a hash recorded at an earlier first download still pins the file.
    expected = spec.sha256 or recorded_sha256(target)
    part = target.with_name(target.name + ".part")
    failures: list[tuple[str, str]] = []  # (url, why it did not deliver)
    # Hosts that could not even be connected to: their other URLs are not tried again, so an
    # offline or black-holed host costs one timeout, not one per URL.
    dead_hosts: dict[str, str] = {}
    sources = [(url, False) for url in spec.urls] + [(url, True) for url in (spec.archive.urls if spec.archive else ())]
    try:
        for url, is_zip in sources:
            host = urlsplit(url).netloc
            if host in dead_hosts:
                failures.append((url, f"not tried: {dead_hosts[host]}"))
                continue
            try:
                publisher = None if is_zip or expected is not None else spec.publisher_hash
                checksum = _publisher_checksum(url, publisher, timeout) if publisher is not None else None
                if is_zip:
                    ok, result = _try_archive(url, spec, part, expected, progress, timeout)
                else:
                    ok, result = _attempt_source(url, part, expected, spec.size, progress, timeout)
                if ok and publisher is not None and checksum is not None:
                    ok, result = _match_publisher(part, publisher, checksum, result)
            except _HostDown as down:
                dead_hosts[host] = down.reason
                ok, result = False, down.reason
            except _SourceFailed as failure:
                ok, result = False, failure.reason
            if ok:
                checked = f"{publisher.algorithm} {checksum}" if publisher is not None and checksum else None
                return _finish(spec, part, target, result, url, warn, checked)
            failures.append((url, result))
    except _DiskError as error:
        raise DownloadError(f"cannot write {part}: {error}", f"free some space or fix the permissions of {directory}") from None
    finally:
        _drop_if_empty(part)
    raise _all_sources_failed(spec, directory, failures)


def _all_sources_failed(spec: ModelSpec, directory: Path, failures: list[tuple[str, str]]) -> DownloadError:
    """One line: why the first URL failed, and the fix (the file, the folder, a URL to fetch it from).
    Every URL with its reason, and the hash to check, are the details (`--verbose`)."""
    first_url, first_reason = failures[0]
    others = f" ({len(failures)} URLs tried)" if len(failures) > 1 else ""
    details = [f"{url}: {reason}" for url, reason in failures]
    if spec.sha256:
        details.append(f"expected sha256 {spec.sha256}")
    return DownloadError(
        f"could not download {spec.id}: {first_reason}{others}",
        f"put {spec.file} into {directory} by hand (from {first_url}), "
        f"or run `swapcast models download {spec.id}` again once online",
        details=details,
    )


def _publisher_checksum(url: str, publisher: PublisherHash, timeout: float) -> str:
    """The checksum the publisher's sidecar beside `url` holds (lowercase hex); _SourceFailed (or
    _HostDown) when it cannot be read or is not a checksum: no unverifiable first download."""
    sidecar = publisher.sidecar_url(url)
    name = sidecar.rsplit("/", 1)[-1]
    request = urllib.request.Request(sidecar, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read(256).decode("ascii", "replace").strip().lower()
    except urllib.error.HTTPError as error:
        error.close()
        raise _SourceFailed(f"the publisher's checksum {name}: HTTP {error.code} {error.reason}".strip()) from None
    except Exception as error:  # noqa: BLE001 — every network failure becomes one short reason
        reason = f"the publisher's checksum {name}: {describe_network_error(error, sidecar, timeout)}"
        if _is_connect_failure(error):
            raise _HostDown(reason) from None
        raise _SourceFailed(reason) from None
    if not re.fullmatch(r"[0-9a-f]{8}", text):
        raise _SourceFailed(f"the publisher's checksum {name} is not a {publisher.algorithm} ({text[:20]!r})")
    return text


def _match_publisher(part: Path, publisher: PublisherHash, checksum: str, digest: str) -> tuple[bool, str]:
    """(True, sha256) when the downloaded `part` has the publisher's checksum, else (False, reason)."""
    crc = 0
    with open(part, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            crc = zlib.crc32(chunk, crc)
    actual = f"{crc:08x}"
    if actual == checksum:
        return True, digest
    _unlink(part)
    return False, f"{publisher.algorithm} mismatch with the publisher's checksum: expected {checksum}, got {actual}"


def _finish(spec: ModelSpec, part: Path, target: Path, digest: str, url: str, warn: Warn | None,
            publisher_checked: str | None = None) -> DownloadResult:
    try:
        os.replace(part, target)  # atomic: the model's name only ever holds a verified file
    except OSError as error:
        raise _DiskError(error.strerror or str(error)) from None
    remember_sha256(target, digest)
    recorded = False
    if spec.sha256 is None and recorded_sha256(target) is None:
        record_first_sha256(target, digest)
        recorded = True
        if warn is not None:
            matched = f" (it matched the publisher's {publisher_checked})" if publisher_checked else ""
            warn(
                f"{spec.id}: the catalog has no published sha256 for {spec.file}; recorded the hash of this "
                f"first download ({digest}){matched} and will check the file against it from now on"
            )
    return DownloadResult(path=target, sha256=digest, url=url, recorded=recorded, publisher_checked=publisher_checked)


def _attempt_source(
    url: str, part: Path, expected: str | None, size: int | None, progress: Progress | None, timeout: float
) -> tuple[bool, str]:
    """(True, sha256) when `part` now holds the verified file, else (False, reason)."""
    attempts = 0
    restarted_fresh = False
    while True:
        attempts += 1
        resumed_from = _size_of(part)
        try:
            digest, length = _fetch(url, part, size, progress, timeout)
        except _SourceFailed as failure:
            if failure.transient and failure.progressed and attempts < MAX_ATTEMPTS_PER_URL:
                continue  # it moved bytes before breaking: resume from where it stopped
            if failure.host_down:
                raise _HostDown(failure.reason) from None
            return False, failure.reason
        problem = _check(digest, length, expected, size)
        if problem is None:
            return True, digest
        _unlink(part)
        if resumed_from > 0 and not restarted_fresh:
            # The bad bytes may be a stale .part from an earlier run: give this URL one clean try.
            restarted_fresh = True
            continue
        return False, problem


def _check(digest: str, length: int, expected: str | None, size: int | None) -> str | None:
    if expected is not None:
        if digest != expected:
            return f"sha256 mismatch: expected {expected}, got {digest}"
        return None
    if size is not None and length != size:
        return f"size mismatch: expected {size} bytes, got {length}"
    return None


def _try_archive(
    url: str, spec: ModelSpec, part: Path, expected: str | None, progress: Progress | None, timeout: float
) -> tuple[bool, str]:
    """Fetch a zip, check the zip's hash, then extract just the model's member into `part`."""
    assert spec.archive is not None
    zip_part = part.with_name(f"{spec.file}.zip.part")
    try:
        ok, result = _attempt_source(url, zip_part, spec.archive.sha256, spec.archive.size, progress, timeout)
    except _HostDown as down:
        _drop_if_empty(zip_part)
        raise _HostDown(f"zip: {down.reason}") from None
    if not ok:
        _drop_if_empty(zip_part)  # a partial zip stays for resuming; an empty one is litter
        return False, f"zip: {result}"
    try:
        return _extract_member(zip_part, spec, part, expected)
    finally:
        _unlink(zip_part)  # the zip was verified and used (or useless): either way it has served


def _extract_member(zip_part: Path, spec: ModelSpec, part: Path, expected: str | None) -> tuple[bool, str]:
    assert spec.archive is not None
    digest = hashlib.sha256()
    length = 0
    try:
        with zipfile.ZipFile(zip_part) as archive:
            name = _find_member(archive, spec.archive.member)
            if name is None:
                return False, f"the zip has no member {spec.archive.member}"
            with archive.open(name) as source, _open_for_write(part, "wb") as sink:
                while chunk := source.read(CHUNK_BYTES):
                    digest.update(chunk)
                    length += len(chunk)
                    _write(sink, chunk)
                _fsync(sink)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as error:
        _unlink(part)
        return False, f"not a usable zip ({error})"
    problem = _check(digest.hexdigest(), length, expected, spec.size)
    if problem is not None:
        _unlink(part)
        return False, f"{spec.archive.member} in the zip: {problem}"
    return True, digest.hexdigest()


def _find_member(archive: zipfile.ZipFile, member: str) -> str | None:
    names = archive.namelist()
    if member in names:
        return member
    # Packs differ in whether they wrap files in a folder: accept one unique match by base name.
    base = member.rsplit("/", 1)[-1]
    matches = [name for name in names if name.rsplit("/", 1)[-1] == base]
    return matches[0] if len(matches) == 1 else None


def _fetch(url: str, part: Path, size: int | None, progress: Progress | None, timeout: float) -> tuple[str, int]:
    """Stream `url` into `part`, resuming what is there; (sha256, length) of the whole .part."""
    offset = _size_of(part)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            total = _content_range_total(error.headers.get("Content-Range"))
            if offset in (total, size):
                return _hash_existing(part), offset  # the .part was already complete
            _unlink(part)
            raise _SourceFailed("server refused to resume", transient=True, progressed=True) from None
        raise _SourceFailed(f"HTTP {error.code} {error.reason}".strip()) from None
    except Exception as error:  # noqa: BLE001 — every network failure becomes one short reason
        reason = describe_network_error(error, url, timeout)
        # No HTTP answer at all (DNS, refused, timeout, TLS): the host, not the file, is the problem.
        raise _SourceFailed(reason, host_down=_is_connect_failure(error)) from None

    with response:
        total: int | None
        if response.status == 206 and offset:
            match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                response.close()
                _unlink(part)
                raise _SourceFailed("server resumed at the wrong offset", transient=True, progressed=True)
            total = int(match.group(3)) if match.group(3) != "*" else None
        else:
            offset = 0  # a plain 200: the server ignored Range, so the body starts at byte 0
            total = _int_or_none(response.headers.get("Content-Length"))
        if total is None:
            total = size
        digest = hashlib.sha256()
        if offset:
            _hash_into(part, digest)
        done = offset
        if progress is not None:
            progress(done, total)
        sink = None
        try:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except Exception as error:  # noqa: BLE001
                    raise _SourceFailed(
                        describe_network_error(error, url, timeout), transient=True, progressed=done > offset
                    ) from None
                if not chunk:
                    break
                if sink is None:
                    # Opened on the first byte: a source that sends nothing leaves no empty .part.
                    sink = _open_for_write(part, "ab" if offset else "wb")
                _write(sink, chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            if sink is not None:
                _fsync(sink)
        finally:
            if sink is not None:
                sink.close()
    if total is not None and done != total:
        # http.client returns a short body without an error when the peer closes early.
        raise _SourceFailed(
            f"connection dropped after {done} of {total} bytes", transient=True, progressed=done > offset
        )
    return digest.hexdigest(), done


def describe_network_error(error: BaseException, url: str, timeout: float) -> str:
    """A short, single-line reason for a failed request."""
    reason: object = error
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        reason = error.reason
    host = urlsplit(url).hostname or url
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host {host}: offline or blocked"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {host}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(reason, ConnectionResetError):
        return f"connection reset by {host}"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error with {host}: {getattr(reason, 'reason', None) or reason}"
    if isinstance(reason, http.client.HTTPException):
        return f"connection to {host} dropped ({type(reason).__name__})"
    if isinstance(reason, OSError):
        return f"cannot reach {host}: {reason.strerror or reason}"
    return f"cannot reach {host}: {' '.join(str(reason).split()) or type(reason).__name__}"


def _is_connect_failure(error: BaseException) -> bool:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, (http.client.HTTPException, ConnectionResetError)):
        return False  # the host answered, then misbehaved: another file there may still work
    return isinstance(reason, OSError)


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _hash_existing(part: Path) -> str:
    digest = hashlib.sha256()
    _hash_into(part, digest)
    return digest.hexdigest()


def _hash_into(part: Path, digest: "hashlib._Hash") -> None:  # typeshed's name for a hash object
    with open(part, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)


def _open_for_write(path: Path, mode: str) -> BinaryIO:
    try:
        return open(path, mode)  # type: ignore[return-value]  # mode is always a binary one
    except OSError as error:
        raise _DiskError(error.strerror or str(error)) from None


def _write(sink: BinaryIO, chunk: bytes) -> None:
    try:
        sink.write(chunk)
    except OSError as error:
        raise _DiskError(error.strerror or str(error)) from None


def _fsync(sink: BinaryIO) -> None:
    try:
        sink.flush()
        os.fsync(sink.fileno())
    except OSError as error:
        raise _DiskError(error.strerror or str(error)) from None


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _drop_if_empty(path: Path) -> None:
    if path.exists() and _size_of(path) == 0:
        _unlink(path)
