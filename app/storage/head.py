"""What the first bytes of a remote input say it is: checked before a job is queued, when only the start
of the file has been read (app.storage.fetch.check_url_input). The whole file is checked again by
app.media.sniff once the job has fetched it.

Pictures by Pillow's own signature tests (the formats app.media.sniff reads); videos by the container
signatures of the formats it accepts (FFmpeg's probe needs the whole file: an MP4's index may be at its end).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from app.media.sniff import PICTURES, MediaKind

# ISO BMFF / QuickTime files begin with a box: its type at offset 4 (ftyp; old QuickTime: moov, mdat…).
_QUICKTIME_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_EBML = b"\x1a\x45\xdf\xa3"  # Matroska / WebM


@dataclass(frozen=True)
class Head:
    kind: MediaKind
    format: str  # e.g. "PNG", "MP4/QuickTime"


def head_kind(data: bytes) -> Head | None:
    """The picture or video format `data` (a file's first bytes) starts as, or None."""
    if data[4:8] in _QUICKTIME_BOXES:
        return Head(MediaKind.VIDEO, "MP4/QuickTime")
    if data.startswith(_EBML):
        return Head(MediaKind.VIDEO, "Matroska/WebM")
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return Head(MediaKind.VIDEO, "AVI")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return Head(MediaKind.VIDEO, "GIF")  # an animation: a video target to SwapCast
    Image.init()
    for name in PICTURES:
        accept = Image.OPEN.get(name, (None, None))[1]
        if accept is not None and accept(data) is True:  # a str means "known but unsupported here"
            return Head(MediaKind.IMAGE, name)
    return None


def describe_start(data: bytes) -> str:
    """The first bytes as a reader would recognise them: printable text, else hex."""
    start = data[:16]
    text = start.decode("ascii", "replace")
    if start and all(32 <= b < 127 or b in (9, 10, 13) for b in start):
        return "it starts with text " + repr(text.strip()[:16])
    return f"it starts with bytes {start.hex(' ')}" if start else "it is empty"
