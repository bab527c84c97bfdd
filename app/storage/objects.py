"""Objects in S3-compatible storage (AWS S3, Cloudflare R2, MinIO, SeaweedFS, GCS's XML API) and in
local-folder profiles: validate an output URI early, upload a finished output, download an input.

URIs: `s3://bucket/key`, `r2://bucket/key`, `gs://bucket/key` (from the standard environment), or
`PROFILE:key` through a storage profile (storage.json; profiles.py). The library is boto3 (the figures
behind that choice are in docs/STORAGE.md); no request is signed by hand here.

Guarantees of `upload_object`:
- the object appears under its final key only when complete: small files are one PUT (atomic in S3),
  larger ones a multipart upload, which the store assembles atomically on CompleteMultipartUpload;
  a cancel or an error aborts the multipart upload, so nothing is left under the key;
- verified: the size and the ETag the store reports after the upload must equal the local file's
  size and the MD5 (one PUT) or multipart ETag (MD5 of the parts' MD5s, "-N") computed while reading
  it; a mismatch deletes the object. The SHA-256 is kept in the object's metadata (x-amz-meta-sha256)
  and returned;
- each part is retried with back-off (botocore's standard retries, then whole-part retries here).

Credentials never leave the library: no URI, error line or StoredObject carries them.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engines.errors import InputError, OutputError, SwapCastError, TransientError

from .profiles import StorageKind, StorageProfile, get_profile, load_profiles
from .uri import PROFILE_URI, REMOTE_SCHEMES, UriKind

Progress = Callable[[int, int | None], None]
Cancelled = Callable[[], bool]

SINGLE_PUT_MAX = 8 * 1024 * 1024  # above this: multipart
PART_SIZE = 16 * 1024 * 1024  # grown for files over 10,000 parts' worth
MAX_PARTS = 10_000
CONCURRENCY = 4
PART_ATTEMPTS = 4
BACKOFF_S = 0.5
READ_CHUNK = 1024 * 1024
SHA256_METADATA = "sha256"
ETAG_SHAPE = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")
# `NAME:key` — a profile name is 2+ characters, so `C:\video.mp4` is never taken for one.
SCHEME_FOR_KIND = {StorageKind.S3: "s3", StorageKind.R2: "r2", StorageKind.GCS: "gs", StorageKind.LOCAL: "file"}


class UploadCancelled(SwapCastError):
    """The upload was stopped by its caller; the multipart upload was aborted: no object is left."""


@dataclass(frozen=True)
class StoredObject:
    uri: str  # the object's URI (s3://bucket/key, or PROFILE:key), never with credentials
    size: int
    sha256: str
    presigned_url: str | None = None
    presigned_expires_at: float | None = None  # epoch seconds


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


# ---------------------------------------------------------------- resolving

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


def _check_endpoint(endpoint: str | None, allow_http: bool, where: str) -> None:
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
    _check_endpoint(target.endpoint, target.allow_http, uri)
    _credentials(target)
    return target


# ---------------------------------------------------------------- client and errors

def _session(target: ObjectTarget):  # noqa: ANN202 — boto3 types are not installed
    import boto3

    try:
        return boto3.session.Session(profile_name=target.credentials_profile)
    except Exception as error:  # noqa: BLE001 — ProfileNotFound and friends
        raise OutputError(f"{target.uri}: credentials profile '{target.credentials_profile}' not found "
                          f"({type(error).__name__})", "add it to ~/.aws/credentials or fix credentials_profile") from None


def _credentials(target: ObjectTarget) -> None:
    if _session(target).get_credentials() is None:
        where = (f"profile '{target.credentials_profile}' of the AWS credentials file" if target.credentials_profile
                 else "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
        raise OutputError(f"{target.uri}: no storage credentials found ({where})",
                          "set them in the environment or the AWS credentials file (never in storage.json)")


def _client(target: ObjectTarget):  # noqa: ANN202
    from botocore.config import Config

    _check_endpoint(target.endpoint, target.allow_http, target.uri)
    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                    s3={"addressing_style": "path" if target.endpoint else "auto"},
                    signature_version="s3v4", max_pool_connections=CONCURRENCY * 2,
                    # S3-compatible stores (R2, GCS, SeaweedFS) differ on the newer default CRC checksums;
                    # integrity is checked here with Content-MD5 and the ETag instead.
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return _session(target).client("s3", endpoint_url=target.endpoint, region_name=target.region or "us-east-1",
                                   config=config)


def storage_error(error: BaseException, target: ObjectTarget, action: str,
                  *, as_input: bool = False) -> SwapCastError:
    """One line for what went wrong talking to the store: unknown bucket, denied, unreachable, clock skew."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    fatal = InputError if as_input else OutputError
    where = target.endpoint or "AWS S3"
    if isinstance(error, SwapCastError):
        return error
    if isinstance(error, NoCredentialsError):
        return fatal(f"{action} {target.address}: no storage credentials found",
                     "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a credentials profile)")
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        return TransientError(f"{action} {target.address}: cannot reach the storage endpoint {where}",
                              "check the endpoint URL and the network")
    if isinstance(error, ReadTimeoutError):
        return TransientError(f"{action} {target.address}: the storage endpoint {where} stopped answering",
                              "try again; check the network")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket":
            return fatal(f"{action} {target.address}: bucket '{target.bucket}' does not exist at {where}",
                         "create it, or fix the bucket name")
        if code in ("RequestTimeTooSkewed", "RequestExpired") or "skew" in str(error).lower():
            return fatal(f"{action} {target.address}: this computer's clock differs from the store's too much "
                         "(requests are refused)", "set the clock right (NTP) and try again")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden", "AllAccessDisabled",
                    "InvalidToken", "ExpiredToken") or status == 403:
            reason = {"InvalidAccessKeyId": "the access key is not known to the store",
                      "SignatureDoesNotMatch": "the secret key does not match the access key",
                      "ExpiredToken": "the session token has expired"}.get(code, "the credentials may not do this")
            return fatal(f"{action} {target.address}: access denied ({reason})",
                         "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the key's permissions on the bucket")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return fatal(f"{action} {target.address}: no such object", "check the key (and the prefix)")
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            return TransientError(f"{action} {target.address}: the store answered {code or status}", "try again later")
        return fatal(f"{action} {target.address}: the store refused it ({code or status})",
                     "check the bucket, key and credentials")
    return TransientError(f"{action} {target.address}: {type(error).__name__}: {error}".splitlines()[0],
                          "try again; check the endpoint")


# ---------------------------------------------------------------- upload

def _part_size(size: int) -> int:
    part = PART_SIZE
    while size > part * MAX_PARTS:
        part *= 2
    return part


def _file_sha256(local: Path) -> str:
    """SHA-256 of the file (kept in the object's metadata and returned)."""
    sha = hashlib.sha256()
    with local.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK * 8):
            sha.update(chunk)
    return sha.hexdigest()


def _read_part(local: Path, offset: int, length: int) -> bytes:
    with local.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def _with_backoff(call: Callable[[], Any], target: ObjectTarget, action: str) -> Any:
    """A call retried on transient failures (after botocore's own retries) with growing pauses."""
    for attempt in range(PART_ATTEMPTS):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 — classified below
            problem = storage_error(error, target, action)
            if not isinstance(problem, TransientError) or attempt == PART_ATTEMPTS - 1:
                raise problem from None
            time.sleep(BACKOFF_S * 2 ** attempt)
    raise AssertionError("unreachable")


def upload_object(local: Path, uri: str, *, progress: Progress | None = None,
                  cancelled: Cancelled | None = None) -> StoredObject:
    """Upload a finished local file to `uri`; returns once the store confirmed it (size and checksum).
    OutputError/TransientError (one line) on failure, UploadCancelled on a cancel — no object either way."""
    local = Path(local)
    target = resolve_output(uri, default_name=local.name)
    size = local.stat().st_size
    if target.kind is StorageKind.LOCAL:
        return _upload_local(local, target, size, progress, cancelled)
    part_size = _part_size(size)
    sha256 = _file_sha256(local)
    client = _client(target)
    if cancelled is not None and cancelled():
        raise UploadCancelled(f"upload to {target.address} cancelled before it started")
    if size <= SINGLE_PUT_MAX:
        body = local.read_bytes()
        md5 = hashlib.md5(body).digest()  # noqa: S324
        _with_backoff(lambda: client.put_object(Bucket=target.bucket, Key=target.key, Body=body,
                                                ContentMD5=base64.b64encode(md5).decode(),
                                                Metadata={SHA256_METADATA: sha256}), target, "uploading to")
        expected_etag = md5.hex()
        if progress:
            progress(size, size)
    else:
        expected_etag = _multipart(client, local, target, size, part_size, sha256, progress, cancelled)
    _verify(client, target, size, expected_etag)
    url, expires = _presign(client, target)
    return StoredObject(uri=target.uri, size=size, sha256=sha256, presigned_url=url, presigned_expires_at=expires)


def _multipart(client: Any, local: Path, target: ObjectTarget, size: int, part_size: int,
               sha256: str, progress: Progress | None, cancelled: Cancelled | None) -> str:
    created = _with_backoff(lambda: client.create_multipart_upload(
        Bucket=target.bucket, Key=target.key, Metadata={SHA256_METADATA: sha256}), target, "uploading to")
    upload_id = created["UploadId"]
    count = -(-size // part_size)
    md5s: list[bytes] = [b""] * count  # each part's MD5, computed by the thread that sends it
    done = 0
    lock = threading.Lock()
    stop = threading.Event()

    def send(number: int) -> dict[str, Any]:
        if stop.is_set():
            raise UploadCancelled(f"upload to {target.address} cancelled")
        offset = (number - 1) * part_size
        body = _read_part(local, offset, part_size)
        md5 = hashlib.md5(body).digest()  # noqa: S324 — Content-MD5 and the ETag, not security
        md5s[number - 1] = md5
        answer = _with_backoff(lambda: client.upload_part(
            Bucket=target.bucket, Key=target.key, UploadId=upload_id, PartNumber=number, Body=body,
            ContentMD5=base64.b64encode(md5).decode()), target, "uploading to")
        etag = str(answer.get("ETag", "")).strip('"')
        if etag and etag != md5.hex():
            raise OutputError(f"uploading to {target.address}: part {number} arrived damaged (ETag {etag})",
                              "try again")
        nonlocal done
        with lock:
            done += len(body)
            if progress:
                progress(done, size)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="upload-part") as pool:
            pending: set[Future[dict[str, Any]]] = set()
            parts: list[dict[str, Any]] = []
            numbers = iter(range(1, count + 1))
            exhausted = False
            while pending or not exhausted:
                while not exhausted and len(pending) < CONCURRENCY:
                    if cancelled is not None and cancelled():
                        stop.set()
                        raise UploadCancelled(f"upload to {target.address} cancelled")
                    number = next(numbers, None)
                    if number is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(send, number))
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    parts.append(future.result())  # the first failure raises here
            if cancelled is not None and cancelled():
                raise UploadCancelled(f"upload to {target.address} cancelled")
        parts.sort(key=lambda part: part["PartNumber"])
        _with_backoff(lambda: client.complete_multipart_upload(
            Bucket=target.bucket, Key=target.key, UploadId=upload_id, MultipartUpload={"Parts": parts}),
            target, "uploading to")
    except BaseException:
        stop.set()
        try:
            client.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
        except Exception:  # noqa: BLE001 — the store drops it anyway (lifecycle rule; docs/STORAGE.md)
            pass
        raise
    whole = hashlib.md5(b"".join(md5s)).hexdigest()  # noqa: S324
    return f"{whole}-{len(md5s)}"


def _verify(client: Any, target: ObjectTarget, size: int, expected_etag: str) -> None:
    head = _with_backoff(lambda: client.head_object(Bucket=target.bucket, Key=target.key), target, "checking")
    stored_size = int(head.get("ContentLength", -1))
    etag = str(head.get("ETag", "")).strip('"')
    # Stores whose ETag is not MD5-based (GCS's XML API for multipart objects) give an opaque ETag: then
    # the per-request Content-MD5 checks and the size stand; an MD5-shaped ETag must match exactly.
    comparable = bool(ETAG_SHAPE.match(etag)) and ("-" in etag) == ("-" in expected_etag)
    if stored_size != size or (comparable and etag != expected_etag):
        try:
            client.delete_object(Bucket=target.bucket, Key=target.key)
        except Exception:  # noqa: BLE001
            pass
        raise OutputError(f"uploading to {target.address}: the store holds {stored_size} bytes (ETag {etag}), "
                          f"not the {size} bytes sent (ETag {expected_etag}); the object was removed", "try again")


def _presign(client: Any, target: ObjectTarget) -> tuple[str | None, float | None]:
    if not target.presign_expiry_s:
        return None, None
    url = client.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": target.key},
                                        ExpiresIn=target.presign_expiry_s)
    return url, time.time() + target.presign_expiry_s


def presign(uri: str, expiry_s: int) -> tuple[str, float]:
    """A presigned HTTPS GET link for an existing object, valid `expiry_s` seconds: (url, expires_at)."""
    target = parse_object_uri(uri)
    if target.kind is StorageKind.LOCAL:
        raise OutputError(f"{uri}: a local-folder profile has no links to hand out", "use an s3/r2/gcs profile")
    client = _client(target)
    url = client.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": target.key},
                                        ExpiresIn=int(expiry_s))
    return url, time.time() + int(expiry_s)


def _upload_local(local: Path, target: ObjectTarget, size: int, progress: Progress | None,
                  cancelled: Cancelled | None) -> StoredObject:
    final = target.local_path
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.part")
    sha = hashlib.sha256()
    try:
        with local.open("rb") as source, temp.open("wb") as out:
            done = 0
            while chunk := source.read(READ_CHUNK):
                if cancelled is not None and cancelled():
                    raise UploadCancelled(f"copy to {final} cancelled")
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
            out.flush()
            os.fsync(out.fileno())
        if temp.stat().st_size != size:
            raise OutputError(f"copy to {final}: {temp.stat().st_size} bytes written, not {size}", "check the disk")
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return StoredObject(uri=target.uri, size=size, sha256=sha.hexdigest())


# ---------------------------------------------------------------- download

def download_object(uri: str, dest: Path, *, max_bytes: int, progress: Progress | None = None,
                    cancelled: Cancelled | None = None) -> Path:
    """Stream an object into `dest` (through `dest.part`, resumed on a retry); refuses one over
    `max_bytes` before downloading and stops at the limit if the size changes. Returns dest."""
    dest = Path(dest)
    target = parse_object_uri(uri)
    if target.kind is StorageKind.LOCAL:
        source = target.local_path
        if not source.is_file():
            raise InputError(f"{uri}: no such object ({source})", "check the key (and the profile's path)")
        if source.stat().st_size > max_bytes:
            raise InputError(f"{uri} is {source.stat().st_size} bytes, over the {max_bytes}-byte input limit",
                             "raise the limit or use a smaller file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return dest
    client = _client(target)
    try:
        head = client.head_object(Bucket=target.bucket, Key=target.key)
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "reading", as_input=True) from None
    size = int(head["ContentLength"])
    if size > max_bytes:
        raise InputError(f"{uri} is {size} bytes, over the {max_bytes}-byte input limit",
                         "raise the limit or use a smaller file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    extra: dict[str, str] = {"IfMatch": head["ETag"]} if head.get("ETag") else {}
    if have:
        extra["Range"] = f"bytes={have}-"
    if have < size:
        try:
            body = client.get_object(Bucket=target.bucket, Key=target.key, **extra)["Body"]
            with part.open("ab") as out:
                for chunk in body.iter_chunks(READ_CHUNK):
                    if cancelled is not None and cancelled():
                        raise InputError(f"download of {uri} cancelled", "start it again to resume")
                    have += len(chunk)
                    if have > max_bytes or have > size:
                        out.close()
                        part.unlink(missing_ok=True)
                        raise InputError(f"{uri} grew past {min(max_bytes, size)} bytes while downloading; stopped",
                                         "raise the limit or use a smaller file")
                    out.write(chunk)
                    if progress:
                        progress(have, size)
        except SwapCastError:
            raise
        except Exception as error:  # noqa: BLE001
            raise storage_error(error, target, "reading", as_input=True) from None
    if part.stat().st_size != size:
        raise TransientError(f"download of {uri} ended at {part.stat().st_size} of {size} bytes", "try again to resume")
    os.replace(part, dest)
    return dest


def object_start(uri: str, length: int) -> tuple[int, bytes]:
    """An input object's size and its first `length` bytes, read before a job is queued (a HEAD and
    one ranged GET); one-line InputError for a missing object, bucket or permission."""
    target = parse_object_uri(uri)
    if target.kind is StorageKind.LOCAL:
        source = target.local_path
        try:
            with source.open("rb") as handle:
                return source.stat().st_size, handle.read(length)
        except OSError:
            raise InputError(f"{uri}: no such object ({source})", "check the key (and the profile's path)") from None
    client = _client(target)
    try:
        size = int(client.head_object(Bucket=target.bucket, Key=target.key)["ContentLength"])
        if size == 0:
            return 0, b""
        body = client.get_object(Bucket=target.bucket, Key=target.key, Range=f"bytes=0-{length - 1}")["Body"]
        return size, body.read(length)
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "reading", as_input=True) from None


# ---------------------------------------------------------------- small reads and deletes (storage test)

def read_object(target: ObjectTarget, *, max_bytes: int = 1024 * 1024) -> bytes:
    """A small object's bytes (for `swapcast storage test`); one-line errors."""
    if target.kind is StorageKind.LOCAL:
        try:
            return target.local_path.read_bytes()[:max_bytes]
        except OSError as error:
            raise OutputError(f"reading {target.address}: {error.strerror or error}", "check the folder") from None
    try:
        body = _client(target).get_object(Bucket=target.bucket, Key=target.key, Range=f"bytes=0-{max_bytes - 1}")["Body"]
        return body.read()
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "reading") from None


def delete_object(target: ObjectTarget) -> None:
    if target.kind is StorageKind.LOCAL:
        target.local_path.unlink(missing_ok=True)
        return
    try:
        _client(target).delete_object(Bucket=target.bucket, Key=target.key)
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "deleting") from None
