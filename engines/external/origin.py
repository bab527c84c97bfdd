"""Where an HTTP engine sends the user's photos, and the rules that keep them from going elsewhere.

- The engine's URL must resolve to this machine (every address loopback) unless its entry says
  `allowRemote: true`: a name that resolves off-machine counts as remote, whatever the URL looks like.
- A redirect to another origin (scheme, host, port) is never followed: the upload would go with it.
  A redirect within the origin is followed, and the host is resolved and checked again first.
- A server on this machine is reached directly: the environment's proxy settings (HTTP_PROXY...)
  would otherwise carry the photos to the proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from .errors import EngineFailure, EngineUnavailable

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return cls(scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


@dataclass(frozen=True)
class Destination:
    """An origin and what its host resolves to now."""

    origin: Origin
    addresses: tuple[str, ...]  # empty when the name did not resolve
    lookup_error: str | None = None

    @property
    def on_this_machine(self) -> bool:
        return bool(self.addresses) and all(_is_loopback(address) for address in self.addresses)

    def where(self) -> str:
        """`192.0.2.1`, or `faces.example (203.0.113.9)`: the host and where it really is."""
        shown = ", ".join(self.addresses)
        return self.origin.host if not shown or shown == self.origin.host else f"{self.origin.host} ({shown})"


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def locate(origin: Origin) -> Destination:
    """Resolve the host with the system's resolver (DNS, /etc/hosts), as the connection will."""
    try:
        found = socket.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        return Destination(origin, (), f"{origin.host} does not resolve ({error})")
    return Destination(origin, tuple(dict.fromkeys(str(info[4][0]) for info in found)))


class DestinationRefused(EngineUnavailable):
    """The engine's URL is off this machine and its entry does not allow that."""

    def __init__(self, name: str, reason: str) -> None:
        self.reason = reason  # without the engine's name, for listings that show it already
        super().__init__(f"{name}: {reason}")


class CrossOriginRedirect(EngineFailure):
    """The server redirected to another origin; nothing was sent there."""

    def __init__(self, name: str, origin: Origin, moved: Origin) -> None:
        self.reason = f"{origin} redirects to another origin, {moved}; not followed, nothing was sent there"
        super().__init__(f"{name}: {self.reason}",
                         "set the engine's url to the server that should get the files, if you trust it")


def refusal(destination: Destination, allow_remote: bool) -> str | None:
    """Why files may not be sent to `destination` (one line), or None when they may."""
    if destination.on_this_machine or allow_remote:
        return None
    if destination.lookup_error is not None:
        return f"{destination.origin}: {destination.lookup_error}"
    return (f"{destination.origin} is not this machine ({destination.where()}): your photos would leave it; "
            "set allowRemote: true on this engine's entry in integrations.json to send them there")


def check_destination(name: str, url: str, allow_remote: bool) -> Destination:
    """The destination of `url`, or DestinationRefused when files may not go there."""
    destination = locate(Origin.of(url))
    reason = refusal(destination, allow_remote)
    if reason is not None:
        raise DestinationRefused(name, reason)
    return destination


class OriginBoundSession(requests.Session):
    """A requests session that follows redirects only within one origin, re-checking its host."""

    def __init__(self, name: str, url: str, allow_remote: bool,
                 check: Callable[[str, str, bool], Destination] = check_destination) -> None:
        super().__init__()
        self._name = name
        self._allow_remote = allow_remote
        self._check = check
        self.origin = Origin.of(url)
        destination = check(name, url, allow_remote)
        # On this machine no proxy is wanted, and one set in the environment would carry the files off it.
        self.trust_env = not destination.on_this_machine

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        absolute = urljoin(resp.url, target)
        moved = Origin.of(absolute)
        if moved != self.origin:
            raise CrossOriginRedirect(self._name, self.origin, moved)
        self._check(self._name, absolute, self._allow_remote)  # the name may resolve elsewhere now
        return target
