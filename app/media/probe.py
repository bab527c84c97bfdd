"""What a media file is (size, rate, rotation, audio, colour), read with PyAV before any work starts.

Every way a user-given file can be unusable ends here as one `InputError` line naming the file, so
a job fails at submission with a message the user can act on, not half-way through an encode.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from engines.errors import InputError
from engines.imaging import header_size
from engines.pixel_limit import check_pixels

# Packets scanned for timestamp regularity: enough to see a VFR pattern, cheap to demux (no decode).
VFR_SCAN_PACKETS = 240
# Packets we are willing to feed the decoder before deciding a file has no decodable frame.
FIRST_FRAME_PACKET_LIMIT = 300

# Demuxers that read still images: PyAV opens a .png or .jpg as a one-frame "video".
_IMAGE_FORMATS = {"image2", "apng", "webp"}

# FFmpeg colour-range codes (AVColorRange) in the words ffprobe uses.
_RANGE_NAMES = {0: "unknown", 1: "tv", 2: "pc"}

# File signatures of common video containers. When one of these fails to open, the file is a video
# that is damaged (e.g. a download cut short leaves an MP4 without its index), which calls for a
# different fix than a file that never was a video.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (4, b"free", "MOV"),
    (4, b"wide", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "AVI"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x30\x26\xb2\x75", "ASF/WMV"),
)


@dataclass(frozen=True)
class MediaInfo:
    """One probed file. Times are seconds; `rotation` follows FFmpeg's display matrix convention."""

    path: Path
    kind: Literal["video", "image"]
    container: str  # demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    width: int
    height: int
    fps: float  # average frame rate (frames / duration); 0.0 when unknown
    frame_count: int
    frame_count_exact: bool  # False: estimated from duration × fps
    duration_s: float
    # Counter-clockwise degrees a player turns the picture, as VideoFrame.rotation and ffprobe's
    # side-data "rotation" report it (a phone's portrait clip usually says -90).
    rotation: int
    has_audio: bool
    audio_codec: str | None
    video_codec: str
    pix_fmt: str | None
    color_range: str  # "tv" (limited), "pc" (full) or "unknown"
    is_vfr: bool
    # What a writer needs to reproduce the stream: its clock, its nominal rate, its raw colour tags
    # (FFmpeg enum codes) and the 3×3 display matrix exactly as stored (rotation and flips).
    time_base: Fraction
    frame_rate: Fraction | None
    start_pts: int
    color_space: int = 2  # AVCOL_SPC_UNSPECIFIED
    color_primaries: int = 2  # AVCOL_PRI_UNSPECIFIED
    color_trc: int = 2  # AVCOL_TRC_UNSPECIFIED
    color_range_code: int = 0
    display_matrix: tuple[int, ...] | None = None
    audio_sample_rate: int | None = None

    @property
    def name(self) -> str:
        return self.path.name


def _looks_like_video_container(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(189)
    except OSError:
        return None
    for offset, magic, label in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return label
    if len(head) > 188 and head[0] == head[188] == 0x47:  # MPEG-TS: a sync byte every 188 bytes
        return "MPEG-TS"
    return None


def open_input(path: Path) -> Any:
    """av.open with the file problems a user can hit turned into one-line InputErrors."""
    if not path.exists():
        raise InputError(f"{path}: file not found", "check the path (and that the drive is mounted)")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video", "give the path of a video file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror})", "check the file's permissions") from None
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)", "re-copy or re-download it")
    try:
        return av.open(str(path), mode="r")
    except PermissionError:
        raise InputError(f"{path}: permission denied", "check the file's permissions") from None
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        label = _looks_like_video_container(path)
        if label is not None:
            raise InputError(
                f"{path}: the {label} file is truncated or corrupt (its header cannot be read)",
                "re-copy or re-download it; a recording cut short can sometimes be repaired with a tool such as untrunc",
            ) from error
        raise InputError(
            f"{path}: not a video (could not read its format)", "pick a video file such as .mp4, .mov or .mkv"
        ) from error


def _display_matrix(frame: Any) -> tuple[int, ...] | None:
    """The 3×3 int32 display matrix a decoder attaches to frames from the stream's side data."""
    try:
        for side_data in frame.side_data:
            if getattr(side_data.type, "name", "") == "DISPLAYMATRIX":
                values = np.frombuffer(bytes(side_data), dtype="<i4")
                if values.size == 9:
                    return tuple(int(v) for v in values)
    except Exception:  # side data is a nicety: older PyAV builds expose it differently
        return None
    return None


def _legacy_rotate_tag(stream: Any) -> int:
    # Old muxers wrote a "rotate" tag meaning clockwise degrees; the display matrix is the
    # counter-clockwise convention, hence the sign.
    text = next((v for k, v in (stream.metadata or {}).items() if k.lower() == "rotate"), None)
    try:
        return -int(float(text)) if text else 0
    except ValueError:
        return 0


def _normalize_rotation(degrees: float) -> int:
    value = int(round(degrees)) % 360
    return value - 360 if value > 180 else value


def timestamps_irregular(pts: list[int], tolerance_ticks: int = 2) -> bool:
    """True when frame intervals differ beyond rounding: a 29.97 fps clip in a 1/1000 clock
    alternates 33 and 34 ticks and is still regular; a phone's VFR clip is not."""
    ordered = sorted(set(pts))
    if len(ordered) < 3:
        return False
    gaps = [b - a for a, b in zip(ordered, ordered[1:])]
    typical = statistics.median(gaps)
    allowed = max(tolerance_ticks, 0.02 * typical)
    return any(abs(gap - typical) > allowed for gap in gaps)


@dataclass
class _Scan:
    first: Any  # the first decoded frame, or None
    pts: list[int]  # pts of the first packets (up to VFR_SCAN_PACKETS)
    complete: bool  # the demuxer ran out: `pts` holds every packet of the stream


def _scan(container: Any, stream: Any, path: Path) -> _Scan:
    """Decode until the first frame (proves the file is decodable) and demux (not decode) the
    first packets' timestamps: enough to tell VFR, and on a short clip the exact frame count."""
    scan = _Scan(None, [], False)
    fed = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 and packet.pts is None:
                scan.complete = True  # PyAV's end-of-stream flush packet
                if scan.first is None:
                    scan.first = next(iter(packet.decode()), None)
                break
            if packet.pts is not None:
                scan.pts.append(packet.pts)
            if scan.first is None:
                fed += 1
                scan.first = next(iter(packet.decode()), None)
                if scan.first is None and fed >= FIRST_FRAME_PACKET_LIMIT:
                    break
            if scan.first is not None and len(scan.pts) >= VFR_SCAN_PACKETS:
                break
    except av.FFmpegError as error:
        if scan.first is None:
            raise InputError(
                f"{path}: the video is corrupt (decoding failed: {error.strerror or error})",
                "re-copy or re-download it, or re-encode it with another tool",
            ) from error
        scan.complete = False
    return scan


def _count_and_rate(stream: Any, scan: _Scan, duration_s: float, time_base: Fraction) -> tuple[int, bool, float]:
    """(frame count, exact?, average fps). The container's own count wins (MP4 stores it); else a
    complete scan counts; else the scanned intervals give a rate that the duration scales."""
    nominal = stream.average_rate or stream.guessed_rate or stream.base_rate
    if stream.frames and stream.frames > 0:
        count = int(stream.frames)
        return count, True, float(nominal) if nominal else (count / duration_s if duration_s else 0.0)
    if scan.complete and scan.pts:
        count = len(scan.pts)
        ordered = sorted(scan.pts)
        span = float((ordered[-1] - ordered[0]) * time_base)
        fps = (count - 1) / span if span > 0 and count > 1 else (float(nominal) if nominal else 0.0)
        return count, True, fps
    ordered = sorted(scan.pts)
    if len(ordered) > 1 and ordered[-1] > ordered[0]:
        fps = (len(ordered) - 1) / float((ordered[-1] - ordered[0]) * time_base)
    else:
        fps = float(nominal) if nominal else 0.0
    return (max(1, round(duration_s * fps)) if fps and duration_s else 1), False, fps


def is_image_container(container: Any) -> bool:
    return container.format.name in _IMAGE_FORMATS or container.format.name.endswith("_pipe")


def check_stream_pixels(path: Path, container: Any, stream: Any, max_pixels: int | None = None) -> None:
    """The picture size the stream declares against the pixel limit, before a frame is decoded.
    An image demuxer leaves the size to the decoder: the file's own header gives it."""
    width, height = stream.codec_context.width, stream.codec_context.height
    if not (width and height) and is_image_container(container):
        width, height = header_size(path) or (0, 0)
    check_pixels(path, width, height, max_pixels)


def probe(path: str | Path, *, max_pixels: int | None = None) -> MediaInfo:
    """Open, check and describe a video (or a still image that PyAV can decode). `max_pixels`: the
    limit on width x height (None: SWAPCAST_MAX_PIXELS, else 100 megapixels)."""
    path = Path(path)
    container = open_input(path)
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            found = f"only {', '.join(kinds)}" if kinds else "no streams at all"
            raise InputError(f"{path}: has no video stream ({found})", "pick a file with a picture track")
        stream = container.streams.video[0]
        check_stream_pixels(path, container, stream, max_pixels)
        stream.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        video_codec = stream.codec_context.name
        time_base = stream.time_base or Fraction(1, 90000)
        frame_rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration_s = 0.0
        if stream.duration:
            duration_s = float(stream.duration * time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        start_pts = stream.start_time if stream.start_time is not None else 0

        scan = _scan(container, stream, path)
        first = scan.first
        if first is None:
            raise InputError(
                f"{path}: no frame could be decoded (the file is truncated or corrupt)",
                "re-copy or re-download it",
            )
        # A stream that did not declare its size was checked only now, before any colour conversion.
        check_pixels(path, first.width, first.height, max_pixels)
        frame_count, exact, fps = _count_and_rate(stream, scan, duration_s, time_base)
        # Many demuxers report a stream duration even for a still image; trust the demuxer name.
        is_image = is_image_container(container)
        if is_image and frame_count <= 1:
            kind: Literal["video", "image"] = "image"
        else:
            kind = "video"
        matrix = _display_matrix(first)
        rotation = _normalize_rotation(first.rotation) if matrix is not None else _legacy_rotate_tag(stream)
        return MediaInfo(
            path=path,
            kind=kind,
            container=container.format.name,
            width=int(first.width),
            height=int(first.height),
            fps=fps,
            frame_count=frame_count,
            frame_count_exact=exact,
            duration_s=duration_s,
            rotation=rotation,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            video_codec=video_codec,
            pix_fmt=first.format.name if first.format is not None else stream.codec_context.pix_fmt,
            color_range=_RANGE_NAMES.get(int(first.color_range), "unknown"),
            is_vfr=timestamps_irregular(scan.pts),
            time_base=time_base,
            frame_rate=frame_rate,
            start_pts=int(start_pts),
            color_space=int(first.colorspace),
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            color_range_code=int(first.color_range),
            display_matrix=matrix,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
        )
    finally:
        container.close()
