"""The sha256 and CRC32 of a downloaded file, both taken in the pass that writes it.

The sha256 pins the file; the CRC32 is what some publishers (FaceFusion's `.hash` sidecars) serve,
so a first download is checked against it without reading the file a second time.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

from .hashing import CHUNK_BYTES


class StreamDigest:
    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._crc32 = 0
        self.length = 0

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._crc32 = zlib.crc32(chunk, self._crc32)
        self.length += len(chunk)

    def add_file(self, path: Path) -> None:
        """Take in the bytes already on disk (a `.part` being resumed)."""
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                self.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def crc32(self) -> str:
        return f"{self._crc32:08x}"

    @classmethod
    def of_file(cls, path: Path) -> StreamDigest:
        digest = cls()
        digest.add_file(path)
        return digest
