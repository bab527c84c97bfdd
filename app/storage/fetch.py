"""A remote input streamed into a job's folder: `https://…` / `http://…` (app.storage.http_download, only
to public addresses: app.storage.url_guard), object URIs (`s3://`, `gs://`, `r2://`, `PROFILE:key`)
through app.storage.download; and an http(s) input checked before its job is queued (`check_url_input`).

URL inputs are refused unless the policy allows them (`--allow-urls`; on the server, its setting).
Downloads go to `<dest_dir>/<stable name>.part` (the name comes from the URI, so a retry finds the part).
The declared Content-Type must say picture, video or nothing specific, and once complete the bytes
themselves must be a picture or a video (app.media.sniff); the file is then renamed
`<stable name><real extension>`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests

from app.media.sniff import PICTURES, VIDEOS, sniff_media
from engines.errors import InputError

from .fetch_policy import FetchPolicy
from .head import Head, describe_start, head_kind
from .http_answer import GENERIC_TYPES, body_chunks, check_status, check_type, declared_total, too_large
from .http_download import discard_part, download_url
from .transfer import Cancelled, Progress
from .uri import UriKind, looks_like_profile_uri, uri_kind
from .url_guard import open_checked, shown_uri

PROBE_BYTES = 64 * 1024  # what check_url_input reads before a job is queued
MEDIA_EXTENSIONS = frozenset(ext for table in (PICTURES, VIDEOS) for exts in table.values() for ext in exts)


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
        part, declared_type = download_url(uri, dest_dir, stem, policy, progress, cancelled)
        return _finish(part, dest_dir, stem, shown_uri(uri), declared_type)
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
    return _finish(Path(got), dest_dir, stem, shown_uri(uri), declared_type="")


def check_url_input(uri: str, *, policy: FetchPolicy) -> Head:
    """Before a job is queued: the URL, after DNS and every redirect, is on a public address and
    answers; it is declared a picture, a video or nothing specific, no larger than the limit; and its
    first bytes are a picture's or a video's, of the declared kind. Only the first PROBE_BYTES are
    read (the job fetches the file, and checks all of it, when it runs).

    InputError (one line) for a refused, missing, oversized or non-media URL; TransientError for a
    server that is busy or does not answer."""
    if uri_kind(uri) is not UriKind.HTTP:
        raise InputError(f"{shown_uri(uri)} is not an http(s) URL", "give an https:// URL")
    if not policy.allow_urls:
        raise _urls_off(uri)
    shown = shown_uri(uri)
    session, response = open_checked(uri, policy)
    try:
        check_status(response, shown)
        declared_type = check_type(response, shown)
        total = declared_total(response, 0)
        if total is not None and total > policy.max_bytes:
            raise too_large(shown, policy.max_bytes, total)
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
    return InputError(f"URL inputs are off: {shown_uri(uri)}",
                      "download the file and give its path, or allow URL inputs (--allow-urls; on the "
                      "server, its allow-URLs setting)")


def _read_start(response: requests.Response, shown: str, size: int) -> bytes:
    start = b""
    for chunk in body_chunks(response, shown, lambda: len(start)):
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


def _finish(part: Path, dest_dir: Path, stem: str, shown: str, declared_type: str) -> Path:
    """Check the real format; rename to `<stem><real extension>`. A non-media file is removed."""
    try:
        found = sniff_media(part, shown)
    except InputError:
        discard_part(part)
        raise
    try:
        _check_declared(declared_type, found.kind.value, found.extension == ".gif", shown)
    except InputError:
        discard_part(part)
        raise
    final = dest_dir / f"{stem}{found.extension}"
    part.replace(final)
    return final


def _check_declared(declared_type: str, kind: str, gif: bool, shown: str) -> None:
    """The declared Content-Type's kind (image/, video/) is the one the bytes hold."""
    declared = declared_type.split("/")[0] if declared_type not in GENERIC_TYPES else ""
    # A GIF is a picture to browsers (image/gif) and an animation (a video target) to SwapCast.
    if declared and declared != kind and not gif:
        raise InputError(f"{shown} is served as {declared_type} but holds a {kind}",
                         "check that the URL names the file you meant")


__all__ = ["PROBE_BYTES", "check_url_input", "fetch_input", "stable_stem"]
