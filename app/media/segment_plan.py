"""Where a long video can be cut without decoding it: at keyframes, about every S seconds.

Read from packets only (demux, no decode), so planning a two-hour file costs a pass over its index.
A cut is made only where it is clean: at a keyframe before which every frame is shown earlier and
after which every frame is shown later (a closed GOP), so each segment decodes on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from engines.errors import InputError

from .probe import open_input


@dataclass(frozen=True)
class VideoIndex:
    """The picture track's packets, in decode order: enough to plan cuts and restore timing."""

    path: Path
    time_base: Fraction
    pts: tuple[int, ...]
    keyframe: tuple[bool, ...]
    duration: tuple[int, ...]  # each packet's duration (0 where the demuxer did not say)

    @property
    def frames(self) -> int:
        return len(self.pts)

    def presentation(self) -> list[tuple[int, int]]:
        """(pts, duration) of every frame in the order they are shown."""
        return sorted(zip(self.pts, self.duration))


@dataclass(frozen=True)
class SegmentPlan:
    """One segment: source packets [first_packet, first_packet + frames) in decode order, shown
    from `first_pts` to `last_pts` (source clock, `time_base`), starting `start_s` into the video."""

    index: int
    first_packet: int
    frames: int
    first_pts: int
    last_pts: int
    start_s: float
    time_base: Fraction

    @property
    def name(self) -> str:
        return f"seg_{self.index:05d}"

    @property
    def end_packet(self) -> int:
        return self.first_packet + self.frames


def read_video_index(path: Path) -> VideoIndex:
    """Demux (never decode) the first video stream's packets. Raises InputError for a file that
    cannot be split: no picture track, or frames without timestamps."""
    container = open_input(path)
    try:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream", "pick a file with a picture track")
        stream = container.streams.video[0]
        pts: list[int] = []
        keyframe: list[bool] = []
        duration: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream flush marker
                if packet.pts is None:
                    raise InputError(
                        f"{path}: frame {len(pts)} has no timestamp, so the video cannot be cut by packet copy",
                        "run it as one task (no --segment-seconds), or remux it to .mp4/.mkv first",
                    )
                pts.append(int(packet.pts))
                keyframe.append(bool(packet.is_keyframe))
                duration.append(int(packet.duration or 0))
        except av.FFmpegError as error:
            raise InputError(
                f"{path}: the video is damaged after frame {len(pts)} ({error.strerror or error})",
                "re-copy or re-download it, or run it as one task",
            ) from error
        if not pts:
            raise InputError(f"{path}: the video stream has no frames", "pick another video")
        return VideoIndex(path, stream.time_base or Fraction(1, 90000), tuple(pts), tuple(keyframe), tuple(duration))
    finally:
        container.close()


def clean_cuts(index: VideoIndex) -> list[int]:
    """Decode positions where a segment may start: keyframes that no frame is reordered across."""
    count = index.frames
    suffix_min = [0] * (count + 1)
    suffix_min[count] = 2**63
    for position in range(count - 1, -1, -1):
        suffix_min[position] = min(index.pts[position], suffix_min[position + 1])
    cuts = []
    before_max = index.pts[0]
    for position in range(1, count):
        pts = index.pts[position]
        if index.keyframe[position] and before_max < pts == suffix_min[position]:
            cuts.append(position)
        before_max = max(before_max, pts)
    return cuts


def plan_from_index(index: VideoIndex, seconds: float) -> list[SegmentPlan]:
    """Cut at the first clean keyframe at or after each segment's start + `seconds`."""
    if not seconds > 0:
        raise InputError(f"segment length {seconds:g} s is not positive", "give a segment length such as 10 s")
    limit = int(seconds / index.time_base)  # in ticks: exact comparisons, no float drift
    origin = min(index.pts)
    starts = [0]
    for cut in clean_cuts(index):
        if index.pts[cut] - index.pts[starts[-1]] >= limit:
            starts.append(cut)
    ends = starts[1:] + [index.frames]
    plans = []
    for number, (first, end) in enumerate(zip(starts, ends)):
        shown = index.pts[first:end]
        plans.append(
            SegmentPlan(
                index=number,
                first_packet=first,
                frames=end - first,
                first_pts=min(shown),
                last_pts=max(shown),
                start_s=float((min(shown) - origin) * index.time_base),
                time_base=index.time_base,
            )
        )
    return plans


def plan_segments(video: Path, seconds: float) -> list[SegmentPlan]:
    """The segments `video` splits into at about `seconds` each (one when it has no later clean
    keyframe). Demux only: no frame is decoded."""
    return plan_from_index(read_video_index(Path(video)), seconds)
