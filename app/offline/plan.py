"""Which output file each target of a job gets, checked before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES


@dataclass(frozen=True)
class TargetPlan:
    target: Path
    output: Path
    is_image: bool


def plan_outputs(targets: list[str], output: str, overwrite: bool) -> list[TargetPlan]:
    """One target: OUTPUT is the file (or, if it is a folder, the target's name inside it).
    Several targets: OUTPUT is a folder and each output keeps its target's name."""
    out = Path(output)
    as_folder = len(targets) > 1 or out.is_dir() or output.endswith(("/", os.sep))
    plans = []
    for raw in targets:
        target = Path(raw)
        destination = out / target.name if as_folder else out
        if destination.suffix == "" and not as_folder:
            destination = destination.with_suffix(target.suffix)
        plans.append(TargetPlan(target, destination, target.suffix.lower() in IMAGE_SUFFIXES))
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
