"""What a source, target or output string names: a local path, an http(s) URL, an object-store URI
(`s3://bucket/key`, `gs://…`, `r2://…`), or `PROFILE:key` through a storage profile (storage.json)."""

from __future__ import annotations

import re
from enum import Enum
from urllib.parse import urlsplit

from engines.errors import InputError


class UriKind(str, Enum):
    LOCAL = "local"
    HTTP = "http"  # http:// or https://
    S3 = "s3"
    GCS = "gs"
    R2 = "r2"


REMOTE_SCHEMES: dict[str, UriKind] = {"http": UriKind.HTTP, "https": UriKind.HTTP, "s3": UriKind.S3,
                                      "gs": UriKind.GCS, "r2": UriKind.R2}


# `PROFILE:key` through storage.json: a name of two or more characters, so `C:\\…` is never one.
PROFILE_URI = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_-]{1,39}):(?P<key>(?!//).*)$")


def looks_like_profile_uri(text: str) -> bool:
    """Shaped like `PROFILE:key` (whether the profile exists is storage.json's to say)."""
    return PROFILE_URI.match(text) is not None


def uri_kind(text: str) -> UriKind:
    """LOCAL for a plain path; InputError for a scheme SwapCast does not take (file://, ftp://, …)."""
    scheme, sep, _ = text.partition("://")
    if not sep:
        return UriKind.LOCAL
    try:
        return REMOTE_SCHEMES[scheme.lower()]
    except KeyError:
        raise InputError(f"{scheme}:// is not a source SwapCast takes: {text}",
                         "give a local path, an https:// URL or an s3:// / gs:// / r2:// object") from None


def is_remote(text: str) -> bool:
    return uri_kind(text) is not UriKind.LOCAL


def masked_url(url: str) -> str:
    """`url` as it may be shown to others (status lines, logs, an API's remote clients): what grants
    access is ****: a user:password@, the query (a presigned signature, SRT's passphrase) and an RTMP
    stream key (rtmp://HOST/APP/KEY; OBS hides it too). The scheme, host, port and path still say where."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    stream_key = parts.scheme.lower() in ("rtmp", "rtmps") and len(segments) >= 2
    if not (parts.username or parts.password or parts.query or stream_key):
        return url  # nothing to hide: shown exactly as given
    host = parts.hostname or ""
    server = f"[{host}]" if ":" in host else host
    if parts.port:
        server += f":{parts.port}"
    if parts.username or parts.password:
        server = f"****@{server}"
    path = "/" + "/".join(segments[:-1]) + "/****" if stream_key else parts.path
    return f"{parts.scheme}://{server}{path}{'?****' if parts.query else ''}"
