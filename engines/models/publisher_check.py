"""A first download with no pinned sha256 must match the checksum its publisher serves beside it.

FaceFusion publishes `NAME.hash` (a CRC32) next to each model. The sidecar is read from the same
host before the file; a sidecar that cannot be read, or is not a checksum, fails that URL: there is
no unverifiable first download.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from .catalog import PublisherHash
from .http_source import USER_AGENT, HostDown, SourceFailed, describe_network_error, is_connect_failure
from .stream_digest import StreamDigest


def publisher_checksum(url: str, publisher: PublisherHash, timeout: float) -> str:
    """The checksum the publisher's sidecar beside `url` holds (lowercase hex); SourceFailed (or
    HostDown) when it cannot be read or is not a checksum."""
    sidecar = publisher.sidecar_url(url)
    name = sidecar.rsplit("/", 1)[-1]
    request = urllib.request.Request(sidecar, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read(256).decode("ascii", "replace").strip().lower()
    except urllib.error.HTTPError as error:
        error.close()
        raise SourceFailed(f"the publisher's checksum {name}: HTTP {error.code} {error.reason}".strip()) from None
    except Exception as error:  # noqa: BLE001 — every network failure becomes one short reason
        reason = f"the publisher's checksum {name}: {describe_network_error(error, sidecar, timeout)}"
        if is_connect_failure(error):
            raise HostDown(reason) from None
        raise SourceFailed(reason) from None
    if not re.fullmatch(r"[0-9a-f]{8}", text):
        raise SourceFailed(f"the publisher's checksum {name} is not a {publisher.algorithm} ({text[:20]!r})")
    return text


def publisher_mismatch(digest: StreamDigest, publisher: PublisherHash, checksum: str) -> str | None:
    """None when the downloaded bytes have the publisher's checksum, else the one-line reason."""
    if digest.crc32 == checksum:
        return None
    return f"{publisher.algorithm} mismatch with the publisher's checksum: expected {checksum}, got {digest.crc32}"
