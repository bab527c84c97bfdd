"""Split a long video at keyframes into small video-only files by packet copy (no decode), so each
can be swapped and encoded on its own (another process, another machine), then joined back.

    plans = plan_segments(video, 10.0)             # where the cuts go (demux only)
    segments = split_video(video, 10.0, folder)    # seg_00000.mp4 … + segments.json; reruns reuse them
    ... each segment → transcode(segment.path, encoded_i, process_batch, TranscodeOptions(audio=False))
    join_segments(encoded, video, output, plan=[s.plan for s in segments])   # see segment_join

Each segment's timestamps start at 0 (the worker's encoder sees an ordinary short clip); the join
puts the source's own timestamps back, so the cut positions never show in the output's timing.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from engines.errors import InputError, OutputError

from .output import discard, reserve_temp
from .probe import open_input
from .segment_join import JoinResult, SegmentError, check_processed, join_segments
from .segment_manifest import MANIFEST_NAME, SegmentManifest, SegmentRecord, SourceStamp, load_manifest, save_manifest
from .segment_plan import SegmentPlan, VideoIndex, plan_from_index, plan_segments, read_video_index

Progress = Callable[[int, int], None]  # (segments done, segments in all)

# Stream tags a player turns the picture by when a file has no display matrix (old muxers).
_ROTATION_TAGS = ("rotate",)
_SEGMENT_FILE = re.compile(r"seg_\d{5}\.(mp4|mkv)")


@dataclass(frozen=True)
class Segment:
    """One segment file on disk and the plan it holds; `reused`: it was already complete."""

    plan: SegmentPlan
    path: Path
    reused: bool = False


def _segment_suffix(template: Any) -> str:
    """.mp4 when MP4 takes the codec (its clock keeps the source's ticks exactly), else .mkv."""
    try:
        with av.open(io.BytesIO(), mode="w", format="mp4") as probe_output:
            probe_output.add_stream_from_template(template)
        return ".mp4"
    except (ValueError, av.FFmpegError):
        return ".mkv"


def _is_complete(path: Path, record: SegmentRecord | None) -> bool:
    try:
        return record is not None and path.stat().st_size == record.bytes
    except OSError:
        return False


def _remove_partials(folder: Path) -> None:
    # A split killed mid-segment leaves its temporary (".seg_00003.1a2b3c.part.mp4"): never reused.
    for leftover in folder.glob(".seg_*.part.*"):
        discard(leftover)


class _SegmentFile:
    """One segment being written: packets copied untouched, timestamps shifted to start at 0."""

    def __init__(self, target: Path, template: Any, plan: SegmentPlan) -> None:
        self.target = target
        self.plan = plan
        self.temp: Path | None = reserve_temp(target)
        try:
            self._container: Any = av.open(str(self.temp), mode="w")
            self._stream = self._container.add_stream_from_template(template)
            for key, value in (template.metadata or {}).items():
                if key.lower() in _ROTATION_TAGS:
                    self._stream.metadata[key] = value
        except BaseException:
            discard(self.temp)
            raise
        self.packets = 0

    def mux(self, packet: Any) -> None:
        packet.pts -= self.plan.first_pts
        if packet.dts is not None:
            packet.dts -= self.plan.first_pts
        packet.stream = self._stream
        self._container.mux(packet)
        self.packets += 1

    def finish(self) -> SegmentRecord:
        self._container.close()
        assert self.temp is not None
        os.replace(self.temp, self.target)
        self.temp = None
        return SegmentRecord(
            file=self.target.name,
            frames=self.packets,
            first_packet=self.plan.first_packet,
            first_pts=self.plan.first_pts,
            last_pts=self.plan.last_pts,
            start_s=self.plan.start_s,
            bytes=self.target.stat().st_size,
        )

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # a half-written file may not close cleanly; it is deleted anyway
            pass
        discard(self.temp)
        self.temp = None


def _source_packets(container: Any, stream: Any) -> Iterator[tuple[int, Any]]:
    """(decode position, packet) for every real packet of the picture track."""
    position = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        yield position, packet
        position += 1


def _write_segments(
    video: Path,
    todo: list[tuple[SegmentPlan, Path]],
    manifest: SegmentManifest,
    folder: Path,
    progress: Callable[[], None],
) -> None:
    """One pass over the source's packets, writing the segments in `todo` (in plan order)."""
    pending = list(reversed(todo))  # next segment to write at the end
    if not pending:
        return
    container = open_input(video)
    current: _SegmentFile | None = None
    try:
        stream = container.streams.video[0]
        for position, packet in _source_packets(container, stream):
            if current is None and position == pending[-1][0].first_packet:
                plan, path = pending.pop()
                current = _SegmentFile(path, stream, plan)
            if current is None:
                continue
            current.mux(packet)
            if position + 1 == current.plan.end_packet:
                manifest.segments[current.plan.index] = current.finish()
                current = None
                save_manifest(folder, manifest)
                progress()
                if not pending:
                    return
        unfinished = current.plan if current is not None else pending[-1][0]
        raise InputError(
            f"{video}: ended before segment {unfinished.index} was complete (the file changed while splitting?)",
            "split it again",
        )
    except av.FFmpegError as error:
        raise OutputError(f"{video}: copying packets into segments failed ({error})", "check free disk space") from error
    finally:
        if current is not None:
            current.abort()
        container.close()


def split_video(video: Path, seconds: float, folder: Path, *, progress: Progress | None = None) -> list[Segment]:
    """Cut `video` at keyframes into segments of about `seconds`, each its own video-only file in
    `folder` (seg_00000.mp4, …, by packet copy: nothing is decoded), plus `segments.json`.

    Idempotent: segments already complete for the same source (size, mtime) and length are kept;
    a half-written one is written again."""
    video = Path(video)
    index: VideoIndex = read_video_index(video)
    plans = plan_from_index(index, seconds)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"segment folder {folder} cannot be created ({error.strerror or error})", "choose a folder you can write to"
        ) from None
    _remove_partials(folder)
    stamp = SourceStamp.of(video)
    manifest = load_manifest(folder)
    if manifest is None or not manifest.matches(stamp, seconds):
        manifest = SegmentManifest(source=stamp, seconds=seconds, time_base=index.time_base)
        # Segments of another source or length must not outlive their record (a later, shorter
        # plan would leave them beside the new ones).
        for stale in folder.iterdir():
            if _SEGMENT_FILE.fullmatch(stale.name):
                discard(stale)
        save_manifest(folder, manifest)
    with av.open(str(video)) as container:
        suffix = _segment_suffix(container.streams.video[0])
    segments: list[Segment] = []
    todo: list[tuple[SegmentPlan, Path]] = []
    for plan in plans:
        path = folder / f"{plan.name}{suffix}"
        reused = _is_complete(path, manifest.record_for(plan))
        segments.append(Segment(plan, path, reused))
        if not reused:
            manifest.segments.pop(plan.index, None)
            todo.append((plan, path))
    done = [len(plans) - len(todo)]

    def advance() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], len(plans))

    if progress is not None:
        progress(done[0], len(plans))
    _write_segments(video, todo, manifest, folder, advance)
    return segments


__all__ = [
    "MANIFEST_NAME",
    "JoinResult",
    "Segment",
    "SegmentError",
    "SegmentManifest",
    "SegmentPlan",
    "check_processed",
    "join_segments",
    "load_manifest",
    "plan_segments",
    "split_video",
]
