"""Resumable, hash-checked model downloads over plain HTTP(S) (stdlib urllib).

Bytes stream into `<file>.part` beside the target. A `.part` left by an interrupted run is resumed
with an HTTP Range request; a server that ignores Range (answers 200) restarts it from zero. The
finished `.part` is renamed over the target only after its sha256 matched, so a file under the
model's own name is always complete and verified. A model with no pinned sha256 whose publisher
serves a checksum sidecar must match it first (publisher_check.py; the CRC32 is taken in the same
pass as the sha256, stream_digest.py). On an HTTP or connection error, or a hash mismatch, the next
URL (the mirror) is tried; when all fail, one DownloadError line names every URL with its reason
and the folder to put the file in by hand (http_source.py says each reason in one line).
"""

from __future__ import annotations

import os
import re
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
from .http_source import USER_AGENT, HostDown, SourceFailed, describe_network_error, is_connect_failure
from .publisher_check import publisher_checksum, publisher_mismatch
from .stream_digest import StreamDigest

Progress = Callable[[int, int | None], None]
Warn = Callable[[str], None]
Vouch = Callable[[StreamDigest], "str | None"]  # a further check of the bytes: None, or why they are refused

# One timeout serves for connecting and for each read: offline (no DNS, refused, unreachable)
# fails at once, a black-holed host within this many seconds, and a stalled transfer is abandoned
# (and resumed from the next URL) instead of hanging forever.
DEFAULT_TIMEOUT_S = 10.0
# A transfer that moved bytes and then broke is retried on the same URL this many times (resuming).
MAX_ATTEMPTS_PER_URL = 3
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    url: str
    recorded: bool  # True when the catalog had no hash and this download's hash was recorded
    publisher_checked: str | None = None  # e.g. "crc32 3f2a9c1d": the publisher's sidecar it matched


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
                checksum = publisher_checksum(url, publisher, timeout) if publisher is not None else None
                if is_zip:
                    digest, reason = _try_archive(url, spec, part, expected, progress, timeout)
                else:
                    vouch = _publisher_vouch(publisher, checksum)
                    digest, reason = _attempt_source(url, part, expected, spec.size, progress, timeout, vouch)
            except HostDown as down:
                dead_hosts[host] = down.reason
                digest, reason = None, down.reason
            except SourceFailed as failure:
                digest, reason = None, failure.reason
            if digest is not None:
                checked = f"{publisher.algorithm} {checksum}" if publisher is not None and checksum else None
                return _finish(spec, part, target, digest.sha256, url, warn, checked)
            failures.append((url, reason))
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


def _publisher_vouch(publisher: PublisherHash | None, checksum: str | None) -> Vouch | None:
    if publisher is None or checksum is None:
        return None
    return lambda digest: publisher_mismatch(digest, publisher, checksum)


def _attempt_source(
    url: str, part: Path, expected: str | None, size: int | None, progress: Progress | None, timeout: float,
    vouch: Vouch | None = None,
) -> tuple[StreamDigest | None, str]:
    """(its digest, "") when `part` now holds the verified file, else (None, reason)."""
    attempts = 0
    restarted_fresh = False
    while True:
        attempts += 1
        resumed_from = _size_of(part)
        try:
            digest = _fetch(url, part, size, progress, timeout)
        except SourceFailed as failure:
            if failure.transient and failure.progressed and attempts < MAX_ATTEMPTS_PER_URL:
                continue  # it moved bytes before breaking: resume from where it stopped
            if failure.host_down:
                raise HostDown(failure.reason) from None
            return None, failure.reason
        problem = _check(digest, expected, size) or (vouch(digest) if vouch is not None else None)
        if problem is None:
            return digest, ""
        _unlink(part)
        if resumed_from > 0 and not restarted_fresh:
            # The bad bytes may be a stale .part from an earlier run: give this URL one clean try.
            restarted_fresh = True
            continue
        return None, problem


def _check(digest: StreamDigest, expected: str | None, size: int | None) -> str | None:
    if expected is not None:
        if digest.sha256 != expected:
            return f"sha256 mismatch: expected {expected}, got {digest.sha256}"
        return None
    if size is not None and digest.length != size:
        return f"size mismatch: expected {size} bytes, got {digest.length}"
    return None


def _try_archive(
    url: str, spec: ModelSpec, part: Path, expected: str | None, progress: Progress | None, timeout: float
) -> tuple[StreamDigest | None, str]:
    """Fetch a zip, check the zip's hash, then extract just the model's member into `part`."""
    assert spec.archive is not None
    zip_part = part.with_name(f"{spec.file}.zip.part")
    try:
        zip_digest, reason = _attempt_source(url, zip_part, spec.archive.sha256, spec.archive.size, progress, timeout)
    except HostDown as down:
        _drop_if_empty(zip_part)
        raise HostDown(f"zip: {down.reason}") from None
    if zip_digest is None:
        _drop_if_empty(zip_part)  # a partial zip stays for resuming; an empty one is litter
        return None, f"zip: {reason}"
    try:
        return _extract_member(zip_part, spec, part, expected)
    finally:
        _unlink(zip_part)  # the zip was verified and used (or useless): either way it has served


def _extract_member(
    zip_part: Path, spec: ModelSpec, part: Path, expected: str | None
) -> tuple[StreamDigest | None, str]:
    assert spec.archive is not None
    digest = StreamDigest()
    try:
        with zipfile.ZipFile(zip_part) as archive:
            name = _find_member(archive, spec.archive.member)
            if name is None:
                return None, f"the zip has no member {spec.archive.member}"
            with archive.open(name) as source, _open_for_write(part, "wb") as sink:
                while chunk := source.read(CHUNK_BYTES):
                    digest.update(chunk)
                    _write(sink, chunk)
                _fsync(sink)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as error:
        _unlink(part)
        return None, f"not a usable zip ({error})"
    problem = _check(digest, expected, spec.size)
    if problem is not None:
        _unlink(part)
        return None, f"{spec.archive.member} in the zip: {problem}"
    return digest, ""


def _find_member(archive: zipfile.ZipFile, member: str) -> str | None:
    names = archive.namelist()
    if member in names:
        return member
    # Packs differ in whether they wrap files in a folder: accept one unique match by base name.
    base = member.rsplit("/", 1)[-1]
    matches = [name for name in names if name.rsplit("/", 1)[-1] == base]
    return matches[0] if len(matches) == 1 else None


def _fetch(url: str, part: Path, size: int | None, progress: Progress | None, timeout: float) -> StreamDigest:
    """Stream `url` into `part`, resuming what is there; the digest of the whole .part."""
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
                return StreamDigest.of_file(part)  # the .part was already complete
            _unlink(part)
            raise SourceFailed("server refused to resume", transient=True, progressed=True) from None
        raise SourceFailed(f"HTTP {error.code} {error.reason}".strip()) from None
    except Exception as error:  # noqa: BLE001 — every network failure becomes one short reason
        reason = describe_network_error(error, url, timeout)
        raise SourceFailed(reason, host_down=is_connect_failure(error)) from None

    with response:
        total: int | None
        if response.status == 206 and offset:
            match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                response.close()
                _unlink(part)
                raise SourceFailed("server resumed at the wrong offset", transient=True, progressed=True)
            total = int(match.group(3)) if match.group(3) != "*" else None
        else:
            offset = 0  # a plain 200: the server ignored Range, so the body starts at byte 0
            total = _int_or_none(response.headers.get("Content-Length"))
        if total is None:
            total = size
        digest = StreamDigest()
        if offset:
            digest.add_file(part)
        done = offset
        if progress is not None:
            progress(done, total)
        sink = None
        try:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except Exception as error:  # noqa: BLE001
                    raise SourceFailed(
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
        raise SourceFailed(
            f"connection dropped after {done} of {total} bytes", transient=True, progressed=done > offset
        )
    return digest


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
