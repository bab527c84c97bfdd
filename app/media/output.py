"""Where an output may go: never onto its input, never over a file unless asked, always via a
temporary file beside it that only becomes the output once it is complete."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from engines.errors import InputError


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def check_output(dst: str | Path, *, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """Validate `dst` and make sure its folder exists and takes files. Returns it as a Path."""
    dst = Path(dst)
    for source in inputs:
        if _same_file(Path(source), dst):
            # Refused even with overwrite: reading and writing one file destroys the input mid-run.
            raise InputError(
                f"{dst}: the output is the input file itself",
                "choose a different output name (the input is never overwritten)",
            )
    if dst.is_dir():
        raise InputError(f"{dst}: the output is an existing folder", "give a file name, e.g. out.mp4")
    if dst.exists() and not overwrite:
        raise InputError(f"{dst}: the output already exists", "pick another name or pass --overwrite")
    folder = dst.parent if str(dst.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"output folder {folder} cannot be created ({error.strerror or error})",
            "choose a folder you can write to",
        ) from None
    if not dst.suffix:
        raise InputError(f"{dst}: the output has no extension", "end the name with .mp4, .mkv or .mov")
    return dst


def temp_path_for(dst: Path) -> Path:
    """`.name.<token>.part.ext` beside `dst`: same folder so os.replace is an atomic rename, same
    extension so the muxer is chosen right, a token so two jobs never share a temporary."""
    return dst.with_name(f".{dst.stem}.{secrets.token_hex(3)}.part{dst.suffix}")


def reserve_temp(dst: Path) -> Path:
    """Create the temporary file now: proves the folder takes files (permissions, read-only
    media, a full quota) before any decoding starts, whatever user the process runs as."""
    temp = temp_path_for(dst)
    try:
        with open(temp, "xb"):
            pass
    except OSError as error:
        raise InputError(
            f"output folder {dst.parent} is not writable ({error.strerror or error})",
            "choose a folder you can write to, or fix its permissions",
        ) from None
    return temp


def discard(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # nothing better to do; the name starts with a dot and says .part
