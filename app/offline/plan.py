"""Which output file each target of a job gets, checked before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES

from app.jobs.model import output_destinations


@dataclass(frozen=True)
class TargetPlan:
    target: Path
    output: Path
    is_image: bool


def plan_outputs(targets: list[str], output: str, overwrite: bool) -> list[TargetPlan]:
    """Each target's output (the rule: app.jobs.model.output_destinations, which the queue also
    uses to find a killed job's partial files), checked."""
    plans = [
        TargetPlan(Path(raw), destination, Path(raw).suffix.lower() in IMAGE_SUFFIXES)
        for raw, destination in zip(targets, output_destinations(targets, output))
    ]
    for plan in plans:
        check_destination(plan.target, plan.output, overwrite)
    return plans


def check_destination(target: Path, output: Path, overwrite: bool) -> None:
    if output.exists() and target.exists() and output.resolve() == target.resolve():
        raise InputError(f"{output}: the output would replace the input", "choose another output name")
    if output.exists() and not overwrite:
        raise InputError(f"{output}: already exists", "pass --overwrite to replace it, or choose another name")
    folder = output.parent
    if folder.exists() and not os.access(folder, os.W_OK):
        raise InputError(f"{folder}: folder is not writable", "choose an output folder you can write to")
