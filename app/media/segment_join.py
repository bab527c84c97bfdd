"""Join encoded segments back into one video: their packets copied (no second encode), every frame
put back on the source's own timestamp, the source's sound copied once, tagged, written atomically.

The k-th frame shown in the joined stream gets the source's k-th presentation time, so frame count,
rate, variable-frame-rate timing and duration are the source's whatever clock the segments' encoder
used. Decode times are rebuilt from that same list, delayed by the deepest frame reordering any
segment uses, so they rise strictly and never pass a frame's presentation time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from engines.errors import InputError, OutputError, SwapCastError
from engines.metadata import output_tags

from .audio import AudioPlan, AudioTrack
from .output import check_output, discard, reserve_temp
from .probe import MediaInfo, probe
from .segment_plan import SegmentPlan, VideoIndex, read_video_index
from .writer import _FASTSTART_FORMATS, AUDIO_LEAD_S

Progress = Callable[[int, int], None]  # (frames joined, frames in all)


@dataclass(frozen=True)
class JoinResult:
    output: Path
    frames: int
    segments: int
    seconds: float
    audio: str  # "copied", "re-encoded", "none"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Encoded:
    """What the join needs from one encoded segment, read by demuxing it (no decode)."""

    path: Path
    plan: SegmentPlan
    pts: list[int]  # its packets' presentation times, in decode order, in its own clock
    codec: str
    size: tuple[int, int]
    extradata: bytes


@dataclass(frozen=True)
class _Stamp:
    pts: int
    dts: int
    duration: int


class SegmentError(InputError):
    """One encoded segment cannot be joined (missing, unreadable, wrong frame count, other codec):
    `index` says which, so an executor can run that segment again instead of failing the job."""

    def __init__(self, index: int, problem: str, fix: str | None = None) -> None:
        self.index = index
        super().__init__(problem, fix)


def _segment_error(plan: SegmentPlan, path: Path, problem: str) -> SegmentError:
    return SegmentError(plan.index, f"segment {plan.index} ({path}): {problem}", f"run segment {plan.index} again")


def _read_encoded(path: Path, plan: SegmentPlan) -> _Encoded:
    if not path.is_file():
        raise _segment_error(plan, path, "the encoded segment is missing")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _segment_error(plan, path, "has no video stream")
            stream = container.streams.video[0]
            stamps = [p.pts for p in container.demux(stream) if p.size]
            context = stream.codec_context
            codec, size, extradata = context.name, (context.width, context.height), bytes(context.extradata or b"")
    except av.FFmpegError as error:
        raise _segment_error(plan, path, f"cannot be read, truncated or corrupt ({error})") from None
    if len(stamps) != plan.frames:
        raise _segment_error(plan, path, f"has {len(stamps)} frames, its plan says {plan.frames}")
    pts = [int(stamp) for stamp in stamps if stamp is not None]
    if len(pts) != len(stamps):
        raise _segment_error(plan, path, "has frames without timestamps")
    return _Encoded(path, plan, pts, codec, size, extradata)


def check_processed(path: Path, plan: SegmentPlan) -> None:
    """Raise a one-line SegmentError unless `path` is a readable encoded segment with exactly the
    frames `plan` says (demux only). A worker calls it before reporting a segment done."""
    _read_encoded(Path(path), plan)


def _check_alike(encoded: list[_Encoded]) -> None:
    first = encoded[0]
    for other in encoded[1:]:
        if (other.codec, other.size, other.extradata) != (first.codec, first.size, first.extradata):
            differs = "codec" if other.codec != first.codec else "size" if other.size != first.size else "codec headers"
            raise _segment_error(
                other.plan,
                other.path,
                f"its {differs} differ from segment {first.plan.index}'s "
                f"({other.codec} {other.size[0]}x{other.size[1]} vs {first.codec} {first.size[0]}x{first.size[1]}): "
                "all segments must be encoded with one encoder and one set of options",
            )


def _timeline(index: VideoIndex, encoded: list[_Encoded]) -> list[list[_Stamp]]:
    """Each segment's packets' new (pts, dts, duration), in decode order, in the source's clock."""
    shown = index.presentation()
    times = [pts for pts, _ in shown]
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    step = min(gaps) if gaps else 1
    durations = [
        duration or (times[rank + 1] - times[rank] if rank + 1 < len(times) else step)
        for rank, (_, duration) in enumerate(shown)
    ]
    ranks: list[int] = []  # presentation rank of every packet, in decode order across segments
    offset = 0
    for segment in encoded:
        order = sorted(range(len(segment.pts)), key=segment.pts.__getitem__)
        local = [0] * len(order)
        for rank, position in enumerate(order):
            local[position] = rank
        ranks.extend(offset + rank for rank in local)
        offset += len(order)
    delay = max(0, max(position - rank for position, rank in enumerate(ranks)))
    stamps = [
        _Stamp(
            pts=times[rank],
            dts=times[position - delay] if position >= delay else times[0] - (delay - position) * step,
            duration=durations[rank],
        )
        for position, rank in enumerate(ranks)
    ]
    by_segment: list[list[_Stamp]] = []
    start = 0
    for segment in encoded:
        by_segment.append(stamps[start : start + len(segment.pts)])
        start += len(segment.pts)
    return by_segment


def _set_rotation(stream: Any, info: MediaInfo) -> None:
    # The source's display matrix, exactly (rotation and flips); the segments may or may not carry it.
    if info.display_matrix is not None:
        stream.set_display_matrix(list(info.display_matrix))
    elif info.rotation:
        stream.set_display_rotation(info.rotation)


class _Joiner:
    """The output file being written: video stream from the first segment, the source's sound."""

    def __init__(self, temp: Path, template: Any, info: MediaInfo, index: VideoIndex, audio: bool, tag_extra: str | None) -> None:
        self.container: Any = av.open(str(temp), mode="w")
        self.format_name: str = self.container.format.name
        self.time_base = index.time_base
        self.audio: AudioTrack | None = None
        try:
            self._add_streams(template, info, audio, tag_extra)
        except BaseException:
            self.abort()
            raise

    def _add_streams(self, template: Any, info: MediaInfo, audio: bool, tag_extra: str | None) -> None:
        self.stream = self.container.add_stream_from_template(template)
        self.stream.time_base = self.time_base
        _set_rotation(self.stream, info)
        self.container.metadata.update(output_tags(tag_extra))
        self.container.metadata["encoder"] = f"SwapCast (joined {template.codec_context.name})"
        self.stream.metadata["encoder"] = f"SwapCast ({template.codec_context.name})"
        if self.container.format.name in _FASTSTART_FORMATS:
            self.container.options["movflags"] = "+faststart"
        if audio and info.has_audio:
            # The whole track, unshifted: the video keeps the source's timestamps, so sync holds.
            self.audio = AudioTrack(info.path, self.container, AudioPlan())

    def mux(self, packet: Any, stamp: _Stamp) -> None:
        packet.stream = self.stream
        packet.time_base = self.time_base
        packet.pts, packet.dts, packet.duration = stamp.pts, stamp.dts, stamp.duration
        self.container.mux(packet)
        if self.audio is not None:
            self.audio.pump(float(stamp.pts * self.time_base) + AUDIO_LEAD_S)

    def finish(self) -> None:
        if self.audio is not None:
            self.audio.pump(None)
        self.container.close()
        self.close_audio()

    def close_audio(self) -> None:
        if self.audio is not None:
            self.audio.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # a half-written file may not close cleanly; it is deleted anyway
            pass
        self.close_audio()


def _timing_warning(path: Path, container: str, index: VideoIndex) -> str | None:
    """Read back (demux only) the written file's frame times; say so when its container moved them
    (Matroska keeps milliseconds; a sound track that starts before 0 shifts everything there)."""
    expected = [pts * index.time_base for pts, _ in index.presentation()]
    with av.open(str(path)) as written:
        stream = written.streams.video[0]
        got = sorted(p.pts * stream.time_base for p in written.demux(stream) if p.size and p.pts is not None)
    if len(got) != len(expected):
        raise SwapCastError(f"{path}: the joined file holds {len(got)} frames, not {len(expected)}", "report this as a bug")
    if got == expected:
        return None
    worst = max(abs(a - b) for a, b in zip(got, expected))
    return f"the {container} container moved frame times by up to {float(worst) * 1000:.1f} ms; use .mp4 to keep them exactly"


def _check_plan(processed: Sequence[Path], plan: Sequence[SegmentPlan], index: VideoIndex, original: Path) -> None:
    if len(processed) < len(plan):
        missing = ", ".join(str(p.index) for p in plan[len(processed) :])
        raise InputError(
            f"{len(processed)} encoded segments given for {len(plan)} planned: segment {missing} missing",
            "run the missing segments, then join again",
        )
    if len(processed) > len(plan):
        raise InputError(
            f"{len(processed)} encoded segments given for {len(plan)} planned", "pass one encoded file per planned segment"
        )
    planned = sum(p.frames for p in plan)
    if planned != index.frames:
        raise InputError(
            f"{original}: has {index.frames} frames, its segment plan {planned} (the file changed since it was split)",
            "split it again",
        )


def join_segments(
    processed: Sequence[Path],
    original: Path,
    output: Path,
    *,
    plan: Sequence[SegmentPlan],
    audio: bool = True,
    tag_extra: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> JoinResult:
    """Remux `processed` (one encoded file per `plan` entry, in order) into `output`, with the
    timestamps, rotation and (with `audio`) sound of `original`, tagged as AI-altered. Every
    segment is checked (present, readable, the planned frame count) before anything is written;
    the output appears only complete (temp + rename) and is never the original."""
    started = time.perf_counter()
    original, processed = Path(original), [Path(p) for p in processed]
    output = check_output(output, inputs=[original, *processed], overwrite=overwrite)
    plan = list(plan)
    if not plan:
        raise InputError("no segments to join", "split the video first")
    index = read_video_index(original)
    _check_plan(processed, plan, index, original)
    encoded = [_read_encoded(path, part) for path, part in zip(processed, plan)]
    _check_alike(encoded)
    stamps = _timeline(index, encoded)
    info = probe(original)
    temp = reserve_temp(output)
    joiner: _Joiner | None = None
    joined = 0
    try:
        for segment, segment_stamps in zip(encoded, stamps):
            with av.open(str(segment.path)) as source:
                stream = source.streams.video[0]
                if joiner is None:
                    joiner = _Joiner(temp, stream, info, index, audio, tag_extra)
                packets = (p for p in source.demux(stream) if p.size)
                for packet, stamp in zip(packets, segment_stamps):
                    joiner.mux(packet, stamp)
            joined += len(segment_stamps)
            if progress is not None:
                progress(joined, index.frames)
        assert joiner is not None
        joiner.finish()
        moved = _timing_warning(temp, joiner.format_name, index)
        if output.exists() and not overwrite:
            raise InputError(f"{output}: the output appeared while joining", "pick another name or pass --overwrite")
        os.replace(temp, output)
    except av.FFmpegError as error:
        if joiner is not None:
            joiner.abort()
        discard(temp)
        raise OutputError(f"{output}: joining the segments failed ({error})", "check free disk space") from error
    except BaseException:
        if joiner is not None:
            joiner.abort()
        discard(temp)
        raise
    track = joiner.audio
    warnings = [w for w in (track.warning if track is not None else None, moved) if w]
    return JoinResult(
        output=output,
        frames=joined,
        segments=len(encoded),
        seconds=time.perf_counter() - started,
        audio="none" if track is None else ("copied" if track.copied else "re-encoded"),
        warnings=warnings,
    )
