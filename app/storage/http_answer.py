"""What an http(s) answer says, read the same way when a URL is checked and when it is downloaded: its
status, declared type and size, and its body as it arrives; one-line errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import requests
import urllib3

from engines.errors import InputError, TransientError

from .url_guard import REDIRECTS, error_reason

_CHUNK = 1 << 16
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


def check_status(response: requests.Response, shown: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    what = f"{shown} answered {status} {response.reason or ''}".rstrip()
    if status in (408, 425, 429) or status >= 500:
        raise TransientError(what, "try again later")
    if status in REDIRECTS:
        raise InputError(f"{what} without a Location", "give the file's final URL")
    raise InputError(what, "check the URL (and that the file is public)")


def check_type(response: requests.Response, shown: str) -> str:
    """The declared Content-Type, when it says a picture, a video or nothing specific."""
    declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared in GENERIC_TYPES or declared.startswith(("image/", "video/")):
        return declared
    raise InputError(f"{shown} is served as {declared}, not a picture or a video",
                     "give the URL of the file itself (.mp4, .mov, .png, .jpg…), not of a web page")


def declared_total(response: requests.Response, offset: int) -> int | None:
    """The whole file's size, when the server says it."""
    if response.status_code == 206:
        match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match and match.group(3) != "*":
            return int(match.group(3))
        return None
    length = response.headers.get("content-length", "").strip()
    return int(length) if length.isdigit() else None


def too_large(shown: str, max_bytes: int, size: int | None = None) -> InputError:
    said = f" ({size_text(size)})" if size is not None else ""
    return InputError(f"{shown} is over the download limit of {size_text(max_bytes)}{said}",
                      "give a smaller file, or raise the limit")


def size_text(size: int) -> str:
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{size} bytes"


def body_chunks(response: requests.Response, shown: str, done: Callable[[], int]) -> Iterator[bytes]:
    """The body as it arrives: read1 hands over every byte received before a connection breaks (a
    whole-chunk read would drop them), so the `.part` holds all of them for the resume."""
    while True:
        try:
            data = response.raw.read1(_CHUNK, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TransientError(f"the download of {shown} broke off after {size_text(done())} ({error_reason(error)})",
                                 "try again: the download resumes where it stopped") from None
        if not data:
            return
        yield data

