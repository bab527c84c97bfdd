"""Where an object lives: an object URI (`s3://bucket/key`, `r2://…`, `gs://…` from the standard
environment, or `PROFILE:key` through storage.json) resolved to an ObjectTarget, and an output's target
checked before any work (bucket and key known, endpoint acceptable, credentials present).

Credentials never leave the library: no URI, error line or ObjectTarget carries them.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engines.errors import InputError, OutputError

from .profiles import StorageKind, StorageProfile, get_profile, load_profiles
from .uri import PROFILE_URI, REMOTE_SCHEMES, UriKind

SCHEME_FOR_KIND = {StorageKind.S3: "s3", StorageKind.R2: "r2", StorageKind.GCS: "gs", StorageKind.LOCAL: "file"}


@dataclass(frozen=True)
class ObjectTarget:
    """Where an object lives, resolved from a URI: enough to make a client, nothing secret."""
    uri: str  # as given (the profile form stays the profile form)
    kind: StorageKind
    bucket: str
    key: str
    endpoint: str | None = None
    region: str | None = None
    credentials_profile: str | None = None
    presign_expiry_s: int | None = None
    allow_http: bool = False
    profile: str | None = None
    local_root: Path | None = None

    @property
    def address(self) -> str:
        """`s3://bucket/key` style, for messages (no endpoint credentials: there are none in it)."""
        if self.kind is StorageKind.LOCAL:
            return str(self.local_path)
        return f"{SCHEME_FOR_KIND[self.kind]}://{self.bucket}/{self.key}"

    @property
    def local_path(self) -> Path:
        assert self.local_root is not None
        return self.local_root / self.key

    def with_key(self, key: str) -> ObjectTarget:
        uri = f"{self.profile}:{key}" if self.profile else f"{SCHEME_FOR_KIND[self.kind]}://{self.bucket}/{key}"
        return ObjectTarget(uri, self.kind, self.bucket, key, self.endpoint, self.region, self.credentials_profile,
                            self.presign_expiry_s, self.allow_http, self.profile, self.local_root)


def is_object_uri(text: str) -> bool:
    """s3:// gs:// r2://, or `NAME:key` where NAME is a profile of storage.json."""
    scheme, sep, _ = text.partition("://")
    if sep:
        return REMOTE_SCHEMES.get(scheme.lower()) in (UriKind.S3, UriKind.GCS, UriKind.R2)
    match = PROFILE_URI.match(text)
    if not match:
        return False
    try:
        return match["name"] in load_profiles()
    except InputError:
        return True  # a broken storage.json: resolve_output says so in one line


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str | None, allow_http: bool, where: str) -> None:
    """An http(s) URL; plain http only to loopback or when allowed. One-line OutputError otherwise."""
    if endpoint is None:
        return
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutputError(f"{where}: the storage endpoint {endpoint!r} is not an http(s) URL",
                          "give e.g. https://s3.example.com")
    if parts.scheme == "http" and not (allow_http or _loopback(parts.hostname)):
        raise OutputError(f"{where}: the storage endpoint {endpoint} is plain http to a host that is not loopback",
                          "use https, or set AWS_ALLOW_HTTP=true (allow_http in a profile) if you mean it")


def _from_profile(profile: StorageProfile, key: str, uri: str) -> ObjectTarget:
    key = (profile.prefix + key.lstrip("/")) if key else profile.prefix
    if profile.kind is StorageKind.LOCAL:
        return ObjectTarget(uri, profile.kind, "", key, profile=profile.name, local_root=profile.path,
                            presign_expiry_s=None)
    allow_http = profile.allow_http or (_env("AWS_ALLOW_HTTP") or "").lower() == "true"
    return ObjectTarget(uri, profile.kind, profile.bucket, key, profile.resolved_endpoint(), profile.resolved_region(),
                        profile.credentials_profile, profile.presign_expiry_s, allow_http, profile.name)


def parse_object_uri(uri: str) -> ObjectTarget:
    """The target a URI names, without checking credentials. InputError (one line) for a malformed one."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        match = PROFILE_URI.match(uri)
        if not match:
            raise InputError(f"{uri!r} is not an object URI", "give s3://bucket/key, gs://…, r2://… or PROFILE:key")
        return _from_profile(get_profile(match["name"]), match["key"], uri)
    kind_by_scheme = {"s3": StorageKind.S3, "r2": StorageKind.R2, "gs": StorageKind.GCS}
    kind = kind_by_scheme.get(scheme.lower())
    if kind is None:
        raise InputError(f"{scheme}:// is not object storage: {uri}", "give s3://bucket/key, gs://…, r2://… or PROFILE:key")
    bucket, _, key = rest.partition("/")
    if not bucket or "@" in bucket:
        raise InputError(f"{uri}: no bucket name", f"give {scheme}://BUCKET/key (credentials never go in the URI)")
    allow_http = (_env("AWS_ALLOW_HTTP") or "").lower() == "true"
    endpoint = _env("AWS_ENDPOINT_URL_S3") or _env("AWS_ENDPOINT_URL")
    region = _env("AWS_REGION") or _env("AWS_DEFAULT_REGION")
    if kind is StorageKind.R2 and endpoint is None:
        account = _env("R2_ACCOUNT_ID") or _env("CLOUDFLARE_ACCOUNT_ID")
        if account is None:
            raise OutputError(f"{uri}: no R2 account to send it to",
                              "set CLOUDFLARE_ACCOUNT_ID (or AWS_ENDPOINT_URL), or use a storage profile of kind r2")
        endpoint = f"https://{account}.r2.cloudflarestorage.com"
    if kind is StorageKind.R2:
        region = region or "auto"
    if kind is StorageKind.GCS and endpoint is None:
        endpoint, region = "https://storage.googleapis.com", region or "auto"
    return ObjectTarget(uri, kind, bucket, key, endpoint, region, None, None, allow_http)


def resolve_output(uri: str, *, default_name: str | None = None) -> ObjectTarget:
    """Validate an output URI before any work: bucket and key known, endpoint acceptable, credentials
    present. `default_name` fills a key that ends in `/` (or a bare `PROFILE:`). One-line errors."""
    target = parse_object_uri(uri)
    if not target.key or target.key.endswith("/"):
        if not default_name:
            raise OutputError(f"{uri}: no object name after the bucket/prefix", f"give {uri.rstrip('/')}/NAME.mp4")
        target = target.with_key(target.key + default_name)
    if target.kind is StorageKind.LOCAL:
        return target
    check_endpoint(target.endpoint, target.allow_http, uri)
    _check_credentials(target)
    return target


def session_for(target: ObjectTarget):  # noqa: ANN201 — boto3 types are not installed
    """The boto3 session with the target's credentials (its profile's, or the standard environment's)."""
    import boto3

    try:
        return boto3.session.Session(profile_name=target.credentials_profile)
    except Exception as error:  # noqa: BLE001 — ProfileNotFound and friends
        raise OutputError(f"{target.uri}: credentials profile '{target.credentials_profile}' not found "
                          f"({type(error).__name__})", "add it to ~/.aws/credentials or fix credentials_profile") from None


def _check_credentials(target: ObjectTarget) -> None:
    if session_for(target).get_credentials() is None:
        where = (f"profile '{target.credentials_profile}' of the AWS credentials file" if target.credentials_profile
                 else "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
        raise OutputError(f"{target.uri}: no storage credentials found ({where})",
                          "set them in the environment or the AWS credentials file (never in storage.json)")
