"""A finished local file uploaded to its object URI (S3-compatible stores, or a local-folder profile),
verified, with a presigned link when the profile asks for one; `presign` for an existing object.

Guarantees of `upload_object`:
- the object appears under its final key only when complete: small files are one PUT (atomic in S3),
  larger ones a multipart upload, which the store assembles atomically on CompleteMultipartUpload;
  a cancel or an error aborts the multipart upload, so nothing is left under the key;
- verified: the size and the ETag the store reports after the upload must equal the local file's
  size and the MD5 (one PUT) or multipart ETag (MD5 of the parts' MD5s, "-N") computed while reading
  it; a mismatch deletes the object. The SHA-256 is kept in the object's metadata (x-amz-meta-sha256)
  and returned;
- each part is retried with back-off (botocore's standard retries, then whole-part retries here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import OutputError, SwapCastError, TransientError

from .object_target import ObjectTarget, parse_object_uri, resolve_output
from .profiles import StorageKind
from .s3_client import CONCURRENCY, client_for, storage_error
from .transfer import Cancelled, Progress

SINGLE_PUT_MAX = 8 * 1024 * 1024  # above this: multipart
PART_SIZE = 16 * 1024 * 1024  # grown for files over 10,000 parts' worth
MAX_PARTS = 10_000
PART_ATTEMPTS = 4
BACKOFF_S = 0.5
READ_CHUNK = 1024 * 1024
SHA256_METADATA = "sha256"
ETAG_SHAPE = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")


class UploadCancelled(SwapCastError):
    """The upload was stopped by its caller; the multipart upload was aborted: no object is left."""


@dataclass(frozen=True)
class StoredObject:
    uri: str  # the object's URI (s3://bucket/key, or PROFILE:key), never with credentials
    size: int
    sha256: str
    presigned_url: str | None = None
    presigned_expires_at: float | None = None  # epoch seconds


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
    client = client_for(target)
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
    client = client_for(target)
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

