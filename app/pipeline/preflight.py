"""Checks before a live session loads models or opens the camera: the recording's folder takes
files, and at least one output the user asked for can work on this machine.

An output that cannot work (no virtual camera, no display for the preview window) is reported and
the rest run on; when it is the only thing asked for, starting would run a session nobody can see,
so it is refused with the fix instead. A stream cannot be checked without sending: it is tried.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from engines.errors import InputError

from .api import LiveConfig
from .outputs import OutputUnavailable, find_virtual_camera
from .outputs.preview import display_problem, window_unavailable


def check_record_folder(path: Path) -> None:
    """An InputError naming the folder and the fix when a recording cannot be written there."""
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Writing a file is the only true test: permission bits, read-only media, quotas, ACLs, and
        # root ignoring the bits all answer here the way the recording's own write would.
        with tempfile.TemporaryFile(dir=folder, prefix=".swapcast-write-check-"):
            pass
    except OSError as error:
        raise InputError(f"cannot record into {folder}: {error.strerror or error}",
                         "choose a folder you can write to, e.g. --record ~/Videos/live.mp4") from None


def unavailable_outputs(config: LiveConfig, preview_listeners: int = 0) -> dict[str, OutputUnavailable]:
    """The outputs asked for that cannot work here right now, with why and the fix."""
    problems: dict[str, OutputUnavailable] = {}
    if config.virtual_cam:
        try:
            find_virtual_camera(config.vcam_backend, config.vcam_device)
        except OutputUnavailable as error:
            problems["virtual camera"] = error
    if config.preview and not preview_listeners:
        problem = display_problem()
        if problem:
            problems["preview"] = window_unavailable(problem)
    return problems


def requested_outputs(config: LiveConfig, preview_listeners: int = 0) -> list[str]:
    names = [name for name, on in (("virtual camera", config.virtual_cam), ("stream", bool(config.stream_url)),
                                   ("recording", config.record_path is not None)) if on]
    if config.preview or preview_listeners:
        names.append("preview")
    return names


def check_outputs(config: LiveConfig, preview_listeners: int = 0) -> None:
    """InputError with the fix when the recording folder takes no files, or when no output asked for
    can work here. Nothing asked for at all passes (a session observed through `stats()` only)."""
    if config.record_path is not None:
        check_record_folder(config.record_path)
    requested = requested_outputs(config, preview_listeners)
    problems = unavailable_outputs(config, preview_listeners)
    if not requested or any(name not in problems for name in requested):
        return
    if len(problems) == 1:
        (problem,) = problems.values()
        raise InputError(problem.problem, problem.fix)
    raise InputError("none of the outputs asked for can work here: "
                     + "; ".join(f"{name}: {error}" for name, error in problems.items()))
