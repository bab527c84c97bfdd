"""An http(s) input streamed into `<dest_dir>/<stem>.part`: a retry finds the part and asks for the rest
with `Range`; the answer is used only when it is 206 with a matching `Content-Range` (and the file's
validator and size are the ones noted beside the part), otherwise the download starts over. The size
limit is checked against the declared length first, then counted; past it the part is removed. A server
that crawls below the policy's rate for a whole window is left (the part stays for the retry).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from engines.errors import InputError, SwapCastError, TransientError

from .fetch_policy import FetchPolicy
from .http_answer import CONTENT_RANGE, body_chunks, check_status, check_type, declared_total, size_text, too_large
from .transfer import Cancelled, Progress
from .url_guard import open_checked, shown_uri


class FetchCancelled(SwapCastError):
    """The user stopped the download; the `.part` stays for a later resume."""

    exit_code = 130


def download_url(uri: str, dest_dir: Path, stem: str, policy: FetchPolicy, progress: Progress | None,
                 cancelled: Cancelled | None) -> tuple[Path, str]:
    """The complete `.part` and the Content-Type it was declared as (its format is the caller's to check).
    InputError (refused, missing, oversized), TransientError (resumable), FetchCancelled."""
    shown = shown_uri(uri)
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{stem}.part"
    memo = _memo_of(part)  # what the part is a piece of: its validator, its whole size
    offset = part.stat().st_size if part.is_file() else 0
    previous = _read_memo(memo) if offset else {}
    session, response = open_checked(uri, policy, offset, previous.get("validator"))
    try:
        if offset and response.status_code == 200:
            offset = 0  # the server sent the whole file instead (changed, or no ranges): start over with it
        elif offset and response.status_code in (206, 416) and not _resumes(response, offset, previous.get("total")):
            response.close()
            session.close()
            discard_part(part)  # a range that does not fit the part (or 416): start over
            offset = 0
            session, response = open_checked(uri, policy)
        check_status(response, shown)
        try:
            declared_type = check_type(response, shown)
        except InputError:
            discard_part(part)
            raise
        total = declared_total(response, offset)
        if total is not None and total > policy.max_bytes:
            discard_part(part)
            raise too_large(shown, policy.max_bytes, total)
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
                discard_part(part)
            raise
    finally:
        response.close()
        session.close()
    memo.unlink(missing_ok=True)
    return part, declared_type


def _memo_of(part: Path) -> Path:
    return part.with_name(f"{part.name.removesuffix('.part')}.resume.json")


def discard_part(part: Path) -> None:
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
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if not match or int(match.group(1)) != offset:
        return False
    return total is None or match.group(3) == str(total)


def _stream(response: requests.Response, part: Path, offset: int, total: int | None, shown: str,
            policy: FetchPolicy, progress: Progress | None, cancelled: Cancelled | None) -> None:
    done = offset
    window_start, window_done = time.monotonic(), done
    with part.open("ab" if offset else "wb") as out:
        for chunk in body_chunks(response, shown, lambda: done):
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
                                         f"{elapsed:.0f} s (after {size_text(done)})",
                                         "try again later: the download resumes where it stopped")
                window_start, window_done = time.monotonic(), done
        else:
            if total is not None and done != total:
                raise TransientError(f"the download of {shown} ended after {size_text(done)} of {size_text(total)}",
                                     "try again: the download resumes where it stopped")
            return
    discard_part(part)
    raise too_large(shown, policy.max_bytes)

