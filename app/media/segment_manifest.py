"""The record a split leaves beside its segments, so a restarted worker knows which are complete.

A segment counts as complete only when the manifest lists it AND its file is there with the size
recorded; the manifest is rewritten atomically after each segment, so a kill at any moment leaves
either the old record or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .output import discard, reserve_temp
from .segment_plan import SegmentPlan

MANIFEST_NAME = "segments.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SourceStamp:
    """Which file was split: a different size or modification time means different segments."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> SourceStamp:
        status = path.stat()
        return cls(str(path.resolve()), status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class SegmentRecord:
    """A written segment: its file (name inside the folder), its plan, and its size in bytes."""

    file: str
    frames: int
    first_packet: int
    first_pts: int
    last_pts: int
    start_s: float
    bytes: int


@dataclass
class SegmentManifest:
    source: SourceStamp
    seconds: float
    time_base: Fraction
    segments: dict[int, SegmentRecord] = field(default_factory=dict)

    def matches(self, source: SourceStamp, seconds: float) -> bool:
        return self.source == source and self.seconds == seconds

    def record_for(self, plan: SegmentPlan) -> SegmentRecord | None:
        """The record of `plan`'s segment when it was written for this very plan."""
        record = self.segments.get(plan.index)
        if record is None or (record.first_packet, record.frames) != (plan.first_packet, plan.frames):
            return None
        return record

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "source": asdict(self.source),
            "seconds": self.seconds,
            "time_base": f"{self.time_base.numerator}/{self.time_base.denominator}",
            "segments": {str(index): asdict(record) for index, record in sorted(self.segments.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentManifest:
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest version {data.get('version')!r}")
        return cls(
            source=SourceStamp(**data["source"]),
            seconds=float(data["seconds"]),
            time_base=Fraction(data["time_base"]),
            segments={int(index): SegmentRecord(**record) for index, record in data["segments"].items()},
        )


def load_manifest(folder: Path) -> SegmentManifest | None:
    """The folder's manifest, or None when there is none or it cannot be read (then the split
    starts over: a damaged record must not make a half-written segment look complete)."""
    try:
        return SegmentManifest.from_json(json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_manifest(folder: Path, manifest: SegmentManifest) -> None:
    target = folder / MANIFEST_NAME
    temp = reserve_temp(target)
    try:
        temp.write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")
        os.replace(temp, target)
    except BaseException:
        discard(temp)
        raise
