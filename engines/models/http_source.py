"""How one download URL can fail, said in one short line (stdlib urllib errors → reasons)."""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
from urllib.parse import urlsplit

USER_AGENT = "SwapCast-models/1 (+https://github.com/)"


class SourceFailed(Exception):
    """One URL did not deliver; `transient` + `progressed` mean 'worth resuming on this URL'."""

    def __init__(
        self, reason: str, *, transient: bool = False, progressed: bool = False, host_down: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.progressed = progressed
        self.host_down = host_down  # no connection at all: other URLs on this host will fail alike


class HostDown(Exception):
    """Raised out of a source attempt when its host could not be connected to at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def is_connect_failure(error: BaseException) -> bool:
    """No HTTP answer at all (DNS, refused, timeout, TLS): the host, not the file, is the problem."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, (http.client.HTTPException, ConnectionResetError)):
        return False  # the host answered, then misbehaved: another file there may still work
    return isinstance(reason, OSError)
