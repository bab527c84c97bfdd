"""Each user folder (models, data, logs, settings, cache) can be created and written to."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.paths import UserPaths

from .result import BOTH, CheckResult, DoctorContext

NAME = "folders"
NEEDED_FOR = BOTH


def probe_folder(paths: UserPaths, role: str) -> str | None:
    """None when the folder can be made (owner-only where private) and a file created, written and
    deleted in it; else the reason."""
    try:
        path = paths.create(role)
        handle, name = tempfile.mkstemp(prefix=".swapcast-doctor-", dir=path)
        try:
            os.write(handle, b"swapcast")
        finally:
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        return error.strerror or str(error)
    return None


def check(context: DoctorContext) -> CheckResult:
    folders = context.paths.all()
    problems = {role: reason for role, path in folders.items() if (reason := probe_folder(context.paths, role)) is not None}
    details = {"folders": {role: str(path) for role, path in folders.items()}, "problems": problems}
    if problems:
        named = "; ".join(f"{role} folder {folders[role]} ({reason})" for role, reason in problems.items())
        first = folders[next(iter(problems))]
        return CheckResult(
            NAME, "fail", f"cannot write to the {named}",
            fix=f"make {first} a folder you own (e.g. chmod u+w, or remove a file in its place), or set SWAPCAST_HOME to a writable folder",
            needed_for=NEEDED_FOR, details=details,
        )
    common = Path(os.path.commonpath([str(p) for p in folders.values()]))
    return CheckResult(NAME, "ok", f"{len(folders)} folders writable (under {common})", needed_for=NEEDED_FOR, details=details)
