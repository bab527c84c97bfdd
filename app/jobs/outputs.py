"""Which output file each target of a job gets, and the checks on it: used when a job is added
(app/jobs/cli_options) and again before it runs (app/offline/runner), since files change meanwhile.

An output must never replace an input (a target or a source photo, however it is spelled: symlinks,
`..`, hard links), must have a format that fits its target (an image into .png/.jpg..., a video
into .mp4/.mkv...), and must land in a folder that can be written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError, OutputError
from engines.imaging import IMAGE_SUFFIXES

from .model import output_destinations


@dataclass(frozen=True)
class TargetPlan:
    target: Path
    output: Path
    is_image: bool


def output_paths(targets: list[str], output: str, *, videos_only: bool = False) -> list[TargetPlan]:
    """Each target with its output file (the rule lives in app.jobs.model.output_destinations, which the
    queue also uses to find a killed job's partial files). `videos_only`: lip sync, where every
    output is a video, a photo target's too."""
    return [TargetPlan(Path(raw), destination, not videos_only and Path(raw).suffix.lower() in IMAGE_SUFFIXES)
            for raw, destination in zip(targets, output_destinations(targets, output, videos_only=videos_only))]


def plan_outputs(targets: list[str], output: str, overwrite: bool, sources: Iterable[str] = (), *,
                 videos_only: bool = False) -> list[TargetPlan]:
    """output_paths() with every check; InputError / OutputError (one line) for the first problem."""
    plans = output_paths(targets, output, videos_only=videos_only)
    for plan in plans:
        check_not_an_input(plan.output, [Path(t) for t in targets], [Path(s) for s in sources])
        check_destination(plan.output, overwrite)
        check_format(plan)
    return plans


def check_not_an_input(output: Path, targets: Iterable[Path], sources: Iterable[Path]) -> None:
    """Refuse an output that is one of the job's inputs (`--overwrite` or not: inputs are never replaced)."""
    for path in targets:
        if _same_file(output, path):
            raise InputError(f"output is also a target: {output}", "choose another -o")
    for path in sources:
        if _same_file(output, path):
            raise InputError(f"output is also a source photo: {output}", "choose another -o")


def check_format(plan: TargetPlan) -> None:
    suffix = plan.output.suffix.lower()
    if plan.is_image and suffix not in IMAGE_SUFFIXES:
        raise OutputError(f"{plan.output.name}: an image target ({plan.target.name}) cannot be written as '{suffix}'",
                          f"name the output {plan.output.stem}{plan.target.suffix.lower()} (or .png, .jpg)")
    # Video containers are many (PyAV writes .ts, .flv...): refuse only what is surely not one.
    if not plan.is_image and (suffix in IMAGE_SUFFIXES or not suffix):
        kind = "a video target" if plan.target.suffix.lower() not in IMAGE_SUFFIXES else "a lip-synced photo (a video)"
        raise OutputError(f"{plan.output.name}: {kind} ({plan.target.name}) cannot be written as '{suffix}'",
                          f"name the output {plan.output.stem}.mp4 (or .mkv, .mov)")


def check_destination(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise InputError(f"{output}: already exists", "pass --overwrite to replace it, or choose another name")
    folder = _nearest_existing(output.parent)
    if not folder.is_dir():
        raise OutputError(f"{folder}: is not a folder, the output cannot be written under it",
                          "choose an output folder")
    # os.access also sees a read-only mount, which even root cannot write to.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: folder is not writable", "choose an output folder you can write to")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        try:
            return os.path.samefile(a, b)  # hard links and symlinks too
        except OSError:
            pass
    return a.expanduser().resolve() == b.expanduser().resolve()


def _nearest_existing(folder: Path) -> Path:
    """The folder itself, or the closest ancestor that exists (the rest will be created)."""
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
