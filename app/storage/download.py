"""An input object read from its store (S3-compatible, or a local-folder profile): streamed into a job's
folder (`download_object`: size-limited, resumed through `.part`), or its size and first bytes read
before a job is queued (`object_start`). One-line InputErrors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engines.errors import InputError, SwapCastError, TransientError

from .object_target import parse_object_uri
from .profiles import StorageKind
from .s3_client import client_for, storage_error
from .transfer import Cancelled, Progress

READ_CHUNK = 1024 * 1024


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
    client = client_for(target)
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
    client = client_for(target)
    try:
        size = int(client.head_object(Bucket=target.bucket, Key=target.key)["ContentLength"])
        if size == 0:
            return 0, b""
        body = client.get_object(Bucket=target.bucket, Key=target.key, Range=f"bytes=0-{length - 1}")["Body"]
        return size, body.read(length)
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "reading", as_input=True) from None

