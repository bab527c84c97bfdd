"""A small object read back and an object deleted: the round trip of `swapcast storage test` (and the
storage benchmark's clean-up). One-line OutputErrors."""

from __future__ import annotations

from engines.errors import OutputError

from .object_target import ObjectTarget
from .profiles import StorageKind
from .s3_client import client_for, storage_error


def read_object(target: ObjectTarget, *, max_bytes: int = 1024 * 1024) -> bytes:
    """A small object's bytes (for `swapcast storage test`); one-line errors."""
    if target.kind is StorageKind.LOCAL:
        try:
            return target.local_path.read_bytes()[:max_bytes]
        except OSError as error:
            raise OutputError(f"reading {target.address}: {error.strerror or error}", "check the folder") from None
    try:
        body = client_for(target).get_object(Bucket=target.bucket, Key=target.key,
                                             Range=f"bytes=0-{max_bytes - 1}")["Body"]
        return body.read()
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "reading") from None


def delete_object(target: ObjectTarget) -> None:
    if target.kind is StorageKind.LOCAL:
        target.local_path.unlink(missing_ok=True)
        return
    try:
        client_for(target).delete_object(Bucket=target.bucket, Key=target.key)
    except Exception as error:  # noqa: BLE001
        raise storage_error(error, target, "deleting") from None
