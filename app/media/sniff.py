"""What a file really holds, read from its bytes — never from its name or a declared type.

A picture by its header (Pillow, with SwapCast's pixel limit checked before anything decodes), a
video by probing it (PyAV, app.media.probe). Used for uploaded files (app.server.uploads) and for
fetched inputs (app.storage.fetch): a text file named .mp4 is refused before any job is queued.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from engines.errors import InputError
from engines.pixel_limit import check_pixels

from .probe import probe


class MediaKind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"


# Pillow's name for each picture format SwapCast reads → the extensions that say it (first: default).
PICTURES: dict[str, tuple[str, ...]] = {
    "PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "BMP": (".bmp",), "WEBP": (".webp",), "TIFF": (".tif", ".tiff"),
}
# FFmpeg's demuxer name → the extensions SwapCast treats as video for it (first: default).
VIDEOS: dict[str, tuple[str, ...]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": (".mp4", ".mov", ".m4v"),
    "matroska,webm": (".mkv", ".webm"),
    "avi": (".avi",),
    "gif": (".gif",),
}


@dataclass(frozen=True)
class Sniffed:
    kind: MediaKind
    extension: str


def sniff_media(path: Path, name: str) -> Sniffed:
    """What `path` holds, from its bytes; InputError (one line, naming the file as `name`) if nothing usable."""
    if path.stat().st_size == 0:
        raise InputError(f"{name} is empty (0 bytes)", "send the file itself")
    suffix = Path(name).suffix.lower()
    picture = picture_format(path, name)
    if picture is not None:
        return Sniffed(MediaKind.IMAGE, _extension(PICTURES[picture], suffix))
    try:
        info = probe(path)
    except InputError as error:
        message = error.one_line().replace(str(path), name)
        raise InputError(f"not a picture or a video SwapCast can read: {message}") from None
    extensions = VIDEOS.get(info.container)
    if info.kind != "video" or extensions is None:
        raise InputError(f"{name} is a {info.container} {info.kind}, not a format SwapCast takes",
                         "convert it to .mp4 (video) or .png/.jpg (picture)")
    return Sniffed(MediaKind.VIDEO, _extension(extensions, suffix))


def picture_format(path: Path, name: str) -> str | None:
    """Pillow's format name when the header is a picture SwapCast reads; its size is checked against
    the pixel limit (engines/pixel_limit) before anything decodes it. InputError for a damaged one."""
    try:
        with Image.open(path, formats=list(PICTURES)) as picture:
            width, height = picture.size
            found = str(picture.format)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None  # not a picture: perhaps a video
    check_pixels(name, width, height)
    try:
        with Image.open(path, formats=[found]) as picture:
            picture.verify()  # structure only (PNG: every chunk and checksum), no pixel decoded
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise InputError(f"{name} is a damaged {found} picture ({str(error).strip() or type(error).__name__})",
                         "open it in an image viewer and save it again") from None
    return found


def _extension(choices: tuple[str, ...], suffix: str) -> str:
    """The given extension when it names the real format (.jpeg stays .jpeg), else the format's own."""
    return suffix if suffix in choices else choices[0]
