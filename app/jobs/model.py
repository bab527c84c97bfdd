"""Values of the job queue: what a job asks for (JobSpec), where it stands (Job), its states.

Everything here is plain data: the store persists it, the worker updates it, the CLI, GUI and the
future HTTP API only read it. JSON is the wire format (the store's spec column, `--json`, the API).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from engines.base import OFFLINE_FACE_SELECTIONS, FaceSelection
from engines.imaging import IMAGE_SUFFIXES
from engines.video_fit import DEFAULT_STILL_FPS, VideoFit

ENCODERS: tuple[str, ...] = ("auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc")


class JobState(str, Enum):
    """PENDING → PROCESSING → COMPLETED | FAILED | CANCELLED (retry: any final state → PENDING)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    def __str__(self) -> str:  # so f-strings and tables print "PENDING", not "JobState.PENDING"
        return self.value


FINAL_STATES: frozenset[JobState] = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class JobSpec:
    """What to do: everything `swapcast swap` takes. Paths are absolute (a worker's cwd may differ)."""

    sources: list[str]
    targets: list[str]  # already expanded to files
    output: str  # a file for one target, a folder for several
    enhance: bool = False
    enhance_blend: float = 0.8  # 0..1: how much of the enhanced face is kept
    faces: FaceSelection = FaceSelection.LARGEST  # one of OFFLINE_FACE_SELECTIONS
    reference: str | None = None  # the face to replace when faces == "reference"
    source_face: int | None = None  # which face of the source image(s), 0-based; None: the largest
    trim: tuple[float, float] | None = None  # seconds (start, end) of video targets
    quality: int | None = None  # 0..100, higher is better; None: the encoder's default
    encoder: str = "auto"  # one of ENCODERS
    audio: bool = True
    overwrite: bool = False
    models: str | None = None  # a --models DIR, resolved when the job was added
    # Remote inputs/outputs (app.storage): sources, targets and output may be https:// / s3:// / gs:// / r2://
    # strings. allow_urls: http(s) inputs were allowed when the job was added (--allow-urls, or the
    # server's setting). keep_local: keep the local render of an uploaded output (in the job's folder).
    allow_urls: bool = False
    keep_local: bool = False
    # Lip sync (`swapcast lipsync`, `swap --lip-sync`): the mouths follow this audio file, which is also
    # the output's sound; with no sources, nothing is swapped. Older rows lack these keys: from_dict
    # gives them the defaults (the spec column is JSON, so no schema migration is needed).
    lip_sync: str | None = None
    lip_sync_weight: float = 1.0  # 0..1
    fit: VideoFit = VideoFit.LOOP  # a target video shorter than the audio: loop it, or stop with it
    still_fps: float = DEFAULT_STILL_FPS  # frame rate of the video a photo target becomes

    def __post_init__(self) -> None:
        # An unknown mode (a hand-written or tampered spec) is refused with the valid ones listed,
        # never read as "largest".
        object.__setattr__(self, "faces", FaceSelection.parse(self.faces, OFFLINE_FACE_SELECTIONS))
        object.__setattr__(self, "fit", VideoFit.parse(self.fit))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trim"] = list(self.trim) if self.trim is not None else None
        data["fit"] = self.fit.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        # Unknown keys are ignored and missing ones take defaults, so a database written by a
        # newer or older SwapCast still reads.
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["sources"] = [str(s) for s in values.get("sources", [])]
        values["targets"] = [str(t) for t in values.get("targets", [])]
        trim = values.get("trim")
        values["trim"] = (float(trim[0]), float(trim[1])) if trim is not None else None
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.from_dict(json.loads(text))

    @property
    def remote_output(self) -> bool:
        """The output is an object URI (s3://, gs://, r2://): rendered in the job's folder, then uploaded."""
        return is_remote_text(self.output)

    def remote_inputs(self) -> list[str]:
        """The sources, targets and reference that are fetched before the job runs."""
        inputs = [*self.sources, *self.targets, *([self.reference] if self.reference else [])]
        return [text for text in dict.fromkeys(inputs) if is_remote_text(text)]

    def destinations(self) -> list[Path]:
        """The local output file of each target, in order (see output_destinations); none for a remote
        output (its local renders live in the job's folder, removed with it)."""
        if self.remote_output:
            return []
        return output_destinations(self.targets, self.output, videos_only=self.lip_sync is not None)

    def object_destinations(self) -> list[str]:
        """The object URI of each target's output, for a remote output (same rule as output_destinations)."""
        if not self.remote_output:
            return []
        several = len(self.targets) > 1 or self.output.endswith(("/", ":"))
        found = []
        for raw in self.targets:
            name = target_name(raw)
            if several:
                prefix = self.output if self.output.endswith(("/", ":")) else self.output + "/"
                found.append(prefix + name)
            elif PurePosixPath(_uri_path(self.output)).suffix == "":
                found.append(self.output + PurePosixPath(name).suffix)
            else:
                found.append(self.output)
        return found

    def problems(self) -> list[str]:
        """What is structurally wrong (files are checked by the CLI and the runner, not here)."""
        found: list[str] = []
        if not self.sources and self.lip_sync is None:
            found.append("no source face given")
        if not self.targets:
            found.append("no target given")
        if not self.output:
            found.append("no output given")
        if self.faces == "reference" and not self.reference:
            found.append("faces 'reference' needs a reference image")
        if self.source_face is not None and self.source_face < 0:
            found.append("source face index must be 0 or more")
        if self.trim is not None and not (0 <= self.trim[0] < self.trim[1]):
            found.append("trim needs 0 <= START < END")
        if self.quality is not None and not 0 <= self.quality <= 100:
            found.append("quality must be between 0 and 100")
        if self.encoder not in ENCODERS:
            found.append(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if not 0.0 <= self.lip_sync_weight <= 1.0:
            found.append("lip-sync weight must be between 0 and 1")
        if not 1.0 <= self.still_fps <= 120.0:
            found.append("the frame rate of a photo's video must be between 1 and 120")
        if self.lip_sync is not None and self.trim is not None:
            found.append("--trim does not go with lip sync (the audio sets the output's length)")
        return found


# `PROFILE:key` through a storage profile (storage.json): a name of 2+ characters, so `C:\clip.mp4` is not one.
_PROFILE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,39}:(?!//)")


def is_remote_text(text: str) -> bool:
    """Whether a source/target/output string names something not on this disk: a scheme (https://,
    s3://…; an unknown one too, refused by the checks with its fix), or `PROFILE:key` for a profile
    of storage.json."""
    scheme, sep, _ = text.partition("://")
    if sep:
        return scheme.isalnum()
    if not _PROFILE_URI.match(text):
        return False
    try:
        from app.storage.object_target import is_object_uri
    except ImportError:
        return False
    return is_object_uri(text)


def _uri_path(text: str) -> str:
    return urlsplit(text).path if is_remote_text(text) else text


def target_name(raw: str) -> str:
    """The file name of a target: a local path's name, or the last part of a URL's path (no query)."""
    if is_remote_text(raw):
        return PurePosixPath(urlsplit(raw).path).name or "input"
    return Path(raw).name


def output_destinations(targets: Sequence[str], output: str, *, videos_only: bool = False) -> list[Path]:
    """Which file each target is written to. One target: OUTPUT is the file (or, if it is a
    folder, the target's name inside it; with no extension, the target's). Several targets:
    OUTPUT is a folder and each output keeps its target's name. `videos_only` (lip sync, where a
    photo becomes a video): a photo's name takes .mp4."""
    out = Path(output)
    as_folder = len(targets) > 1 or out.is_dir() or output.endswith(("/", os.sep))
    found = []
    for raw in targets:
        name = target_name(raw)
        if videos_only and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
            name = str(PurePosixPath(name).with_suffix(".mp4"))
        destination = out / name if as_folder else out
        if destination.suffix == "" and not as_folder:
            destination = destination.with_suffix(PurePosixPath(name).suffix)
        found.append(destination)
    return found


@dataclass(frozen=True)
class StoredOutput:
    """An uploaded output, as the job row keeps it: where it is and a link to it. Never credentials."""

    uri: str
    size: int
    sha256: str
    presigned_url: str | None = None
    presigned_expires_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredOutput:
        return cls(uri=str(data["uri"]), size=int(data.get("size", 0)), sha256=str(data.get("sha256", "")),
                   presigned_url=data.get("presigned_url"), presigned_expires_at=data.get("presigned_expires_at"))


@dataclass(frozen=True)
class Progress:
    done: int = 0
    total: int = 0  # 0: not known yet

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 0.0
        return min(1.0, max(0.0, self.done / self.total))


@dataclass(frozen=True)
class Job:
    """One row of the queue, as read at one moment. Timestamps are Unix seconds (time.time())."""

    id: int
    spec: JobSpec
    state: JobState
    progress: Progress = field(default_factory=Progress)
    fps: float | None = None
    eta_s: float | None = None
    error: str | None = None  # one line
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0  # how many times a worker claimed it since it was added or retried
    max_attempts: int = 3
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    next_attempt_at: float = 0.0  # not claimed before this (back-off after a transient failure)
    worker_id: str | None = None
    lease_expires_at: float | None = None  # a PROCESSING job whose lease ran out is recovered
    cancel_requested: bool = False
    output: str | None = None  # the final output path (or object URI), once COMPLETED
    objects: list[StoredOutput] = field(default_factory=list)  # uploaded outputs, once COMPLETED
    segments: Progress | None = None  # segments of a split video done/total (Ray executor); None: not split

    @property
    def fraction(self) -> float:
        """0..1; 1 for a completed job even if its runner never reported frames (a single image)."""
        return 1.0 if self.state is JobState.COMPLETED else self.progress.fraction

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: what `jobs list --json`, `jobs show --json` and the HTTP API return."""
        return {
            "id": self.id,
            "state": self.state.value,
            "progress": round(self.fraction, 4),
            "frames_done": self.progress.done,
            "frames_total": self.progress.total,
            "fps": self.fps,
            "eta_s": self.eta_s,
            "error": self.error,
            "warnings": list(self.warnings),
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "updated_at": self.updated_at,
            "next_attempt_at": self.next_attempt_at,
            "worker_id": self.worker_id,
            "cancel_requested": self.cancel_requested,
            "output": self.output if self.output is not None else self.spec.output,
            "objects": [stored.to_dict() for stored in self.objects],
            "segments_done": self.segments.done if self.segments else None,
            "segments_total": self.segments.total if self.segments else None,
            "spec": self.spec.to_dict(),
        }
