"""What a remote-input fetch may do: URL inputs on or off, the size limit, how long a silent or crawling
server is waited for, how many redirects are followed, and the resolver that names the addresses."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MIN_RATE_BYTES_S = 1024.0
DEFAULT_RATE_WINDOW_S = 60.0


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

