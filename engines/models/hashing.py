"""SHA-256 of model files, with a sidecar cache so repeated checks are instant.

Each model file `NAME` may have a hidden sidecar `.NAME.swapcast.json` beside it holding:
- `cache`: the file's sha256 together with the stamp it was computed for: size and mtime, and the
  file's identity — inode, device and ctime. An edit that keeps the size and puts the mtime back
  (os.utime) still moves the ctime, which no user can set back, and a replaced or copied file has
  another inode; so a stale entry is never trusted. On Windows st_ctime is the creation time, which
  a user can set: there the cache only saves time for listings, and loading re-hashes (`trusted_for_load`).
- `recorded_sha256`: for a model whose catalog entry has no published hash, the hash of its first
  download ("trust on first use"); later copies are checked against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json

CHUNK_BYTES = 1 << 20
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                break
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.swapcast.json")


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_sidecar(path: Path, data: dict[str, Any]) -> None:
    try:
        atomic_write_json(sidecar_path(path), data)
    except OSError:
        # The sidecar only saves time (or holds a first-use hash); a read-only models folder
        # must still work, it just re-hashes next time.
        pass


# Whether the cache may stand in for hashing when a model is loaded (see the module's docstring).
CACHE_TRUSTED_FOR_LOAD = os.name != "nt"


def _stamp(stat: os.stat_result) -> dict[str, int]:
    """What must be unchanged for a cached hash to hold: contents (size, mtime) and identity."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ino": stat.st_ino, "dev": stat.st_dev,
            "ctime_ns": stat.st_ctime_ns}


def _cached_for(path: Path, stamp: dict[str, int]) -> str | None:
    """The sidecar's hash, if it was computed for a file with exactly this stamp."""
    cache = _read_sidecar(path).get("cache")
    if isinstance(cache, dict) and {k: cache.get(k) for k in stamp} == stamp:
        value = cache.get("sha256")
        if isinstance(value, str) and SHA256_RE.match(value):
            return value
    return None


def cached_sha256(path: Path, *, fresh: bool = False) -> str:
    """The file's sha256, read from the sidecar when the file's stamp (size, mtime, inode, device,
    ctime) still matches the one it was computed for."""
    stat = path.stat()
    cached = None if fresh else _cached_for(path, _stamp(stat))
    if cached is not None:
        return cached
    value = sha256_file(path)
    remember_sha256(path, value, stat_result=stat)
    return value


def read_with_sha256(path: Path, limit: int) -> tuple[bytes, str] | None:
    """The file's bytes and the sha256 of exactly those bytes, read through one open file; None when
    it is larger than `limit` bytes. The cached hash stands in only when the open file's stamp matches
    the cache and did not move while it was read (and the cache may be trusted for loading at all)."""
    with open(path, "rb") as handle:
        before = os.fstat(handle.fileno())
        if before.st_size > limit:
            return None
        data = handle.read()
        after = os.fstat(handle.fileno())
    stamp = _stamp(after)
    steady = _stamp(before) == stamp and len(data) == after.st_size
    cached = _cached_for(path, stamp) if steady and CACHE_TRUSTED_FOR_LOAD else None
    if cached is not None:
        return data, cached
    value = hashlib.sha256(data).hexdigest()
    if steady:
        remember_sha256(path, value, stat_result=after)  # keyed on the file read: useless if it was replaced since
    return data, value


def remember_sha256(path: Path, value: str, stat_result: os.stat_result | None = None) -> None:
    """Store a hash we already know (e.g. computed while downloading) for the file as it is now."""
    stat = stat_result or path.stat()
    sidecar = _read_sidecar(path)
    sidecar["cache"] = {**_stamp(stat), "sha256": value}
    _write_sidecar(path, sidecar)


def recorded_sha256(path: Path) -> str | None:
    value = _read_sidecar(path).get("recorded_sha256")
    return value if isinstance(value, str) and SHA256_RE.match(value) else None


def record_first_sha256(path: Path, value: str) -> None:
    sidecar = _read_sidecar(path)
    sidecar["recorded_sha256"] = value
    _write_sidecar(path, sidecar)
