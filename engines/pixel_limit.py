"""How many pixels a picture may have before SwapCast decodes it.

A file's size says little: a 109 KB PNG can declare 30000x30000 pixels, 2.7 GB once decoded in
colour. Readers take the size from the header (engines/imaging.py for photos, app/media/probe.py and
reader.py for video streams) and check it here first. The limit is a setting, SWAPCAST_MAX_PIXELS
(a number of pixels), 100 megapixels unless set; a caller may pass its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import InputError

MAX_PIXELS_ENV = "SWAPCAST_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # more than a camera's photo (61 MP full-frame) or an 8K frame (33 MP)


def max_pixels(environ: Mapping[str, str] | None = None) -> int:
    """The limit in force: SWAPCAST_MAX_PIXELS when set, else DEFAULT_MAX_PIXELS."""
    env = os.environ if environ is None else environ
    text = env.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"{MAX_PIXELS_ENV}={text!r} is not a number of pixels",
                         f"set it to a whole number such as {DEFAULT_MAX_PIXELS}, or unset it")
    return value


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def check_pixels(path: Path | str, width: int, height: int, limit: int | None = None) -> None:
    """InputError (one line: the file, its size, the limit, how to raise it) past the limit."""
    limit = max_pixels() if limit is None else limit
    pixels = int(width) * int(height)
    if pixels <= limit:
        return
    raise InputError(
        f"{path}: {width}x{height} pixels ({_megapixels(pixels)} megapixels) is over the limit of "
        f"{_megapixels(limit)} megapixels, checked before decoding",
        f"use a smaller picture, or raise the limit with {MAX_PIXELS_ENV}={pixels}",
    )
