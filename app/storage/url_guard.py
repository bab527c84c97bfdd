"""Where an http(s) URL may go, and the connection to it (server-side request forgery is the risk: a job
must not make SwapCast read the cloud's metadata service, the LAN or this machine on a user's behalf):
- Only http and https; `file://`, `ftp://`… are refused (app.storage.uri).
- The host is resolved first and EVERY address it resolves to must be public: loopback, private,
  link-local (169.254.169.254), multicast, reserved, unspecified, shared (100.64/10) and the
  IPv4-mapped forms of those are refused before any connection. Redirects are followed here, one at a
  time (at most `max_redirects`), and each new location is resolved and checked the same way.
- The connection goes to the checked address itself (no second lookup that could rebind the name);
  the request keeps the name in its Host header and, for https, in the TLS SNI and certificate check.
  The environment's proxy settings are not used (a proxy would resolve the name again).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from engines.errors import InputError, TransientError
from engines.external.origin import Origin

from .fetch_policy import FetchPolicy
from .uri import UriKind, uri_kind

REDIRECTS = frozenset({301, 302, 303, 307, 308})


def shown_uri(uri: str) -> str:
    """The URI for messages: without credentials, query (presigned tokens) or fragment."""
    parts = urlsplit(uri)
    if not parts.scheme or "://" not in uri:
        return uri
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to `address` is refused (a few words), or None when it is a public address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "this machine (loopback)"
    for refused, what in ((ip.is_unspecified, "unspecified"), (ip.is_link_local, "link-local"),
                          (ip.is_multicast, "multicast"), (ip.is_private, "private"),
                          (ip.is_reserved, "reserved")):
        if refused:
            return f"a {what} address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class _Target:
    url: str
    origin: Origin
    address: str  # the checked address the connection goes to


def _checked_target(url: str, policy: FetchPolicy) -> _Target:
    """Resolve `url`'s host and check every address; InputError (before any connection) if refused."""
    shown = shown_uri(url)
    if uri_kind(url) is not UriKind.HTTP:
        raise InputError(f"{shown}: only http(s) URLs are fetched", "give an https:// URL or a local path")
    origin = Origin.of(url)
    if not origin.host:
        raise InputError(f"{shown} has no host name", "give a whole URL: https://host/path/file.mp4")
    try:
        ipaddress.ip_address(origin.host.split("%", 1)[0])
        addresses: Sequence[str] = [origin.host]
    except ValueError:
        try:
            addresses = policy.resolver(origin.host, origin.port)
        except (OSError, UnicodeError) as error:
            raise InputError(f"{shown}: {origin.host} does not resolve ({error})",
                             "check the URL's host name and this machine's network") from None
    if not addresses:
        raise InputError(f"{shown}: {origin.host} does not resolve", "check the URL's host name")
    for address in addresses:
        why = address_refusal(address, allow_loopback=policy.allow_loopback_for_tests)
        if why is not None:
            where = origin.host if address == origin.host else f"{origin.host} ({address})"
            raise InputError(f"{shown} is refused: {where} is {why}, not a public address",
                             "give a URL on a public server, or download the file and give its path")
    return _Target(url, origin, addresses[0])


class _PinnedAdapter(HTTPAdapter):
    """Connects to the URL's (already checked) IP address while TLS uses the host name for SNI and
    for the certificate check."""

    def __init__(self, host_name: str) -> None:
        self._host_name = host_name
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: Any,
                                             cert: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._host_name
            pool_kwargs["assert_hostname"] = self._host_name
        return host_params, pool_kwargs


def _send(target: _Target, policy: FetchPolicy, offset: int,
          if_range: str | None) -> tuple[requests.Session, requests.Response]:
    parts = urlsplit(target.url)
    origin = target.origin
    ip = f"[{target.address}]" if ":" in target.address else target.address
    pinned = urlunsplit((origin.scheme, f"{ip}:{origin.port}", parts.path or "/", parts.query, ""))
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    default_port = {"http": 80, "https": 443}[origin.scheme]
    headers = {"Host": host if origin.port == default_port else f"{host}:{origin.port}",
               "Accept-Encoding": "identity", "User-Agent": "SwapCast"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if if_range:
            headers["If-Range"] = if_range  # a changed file comes back whole (200), not as a spliced rest
    session = requests.Session()
    session.trust_env = False  # no proxy (it would resolve the name again), no .netrc
    session.mount(f"{origin.scheme}://", _PinnedAdapter(origin.host))
    shown = shown_uri(target.url)
    try:
        response = session.get(pinned, headers=headers, stream=True, allow_redirects=False,
                               timeout=(policy.timeout_s, policy.timeout_s))
    except requests.exceptions.SSLError as error:
        session.close()
        raise InputError(f"{shown}: the TLS connection failed ({error_reason(error)})",
                         "check the URL (https with a valid certificate)") from None
    except requests.exceptions.Timeout:
        session.close()
        raise TransientError(f"{shown} did not answer within {policy.timeout_s:g} s",
                             "try again later, or download the file and give its path") from None
    except requests.exceptions.RequestException as error:
        session.close()
        raise InputError(f"{shown} is unreachable ({error_reason(error)})",
                         "check the URL and that the server is up") from None
    return session, response


def error_reason(error: BaseException) -> str:
    """The error's first line, short enough for a one-line message."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


def open_checked(url: str, policy: FetchPolicy, offset: int = 0,
                 if_range: str | None = None) -> tuple[requests.Session, requests.Response]:
    """Follow redirects ourselves, checking every hop before connecting to it."""
    for _hop in range(policy.max_redirects + 1):
        target = _checked_target(url, policy)
        session, response = _send(target, policy, offset, if_range)
        location = response.headers.get("location")
        if response.status_code not in REDIRECTS or not location:
            return session, response
        response.close()
        session.close()
        url = urljoin(url, location)
    raise InputError(f"{shown_uri(url)}: more than {policy.max_redirects} redirects",
                     "give the file's final URL")

