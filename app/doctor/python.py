"""Python version: SwapCast needs 3.11 or newer (av 18 has no 3.10 wheels)."""

from __future__ import annotations

import platform
import sys

from .result import BOTH, CheckResult, DoctorContext, setup_script

NAME = "python"
NEEDED_FOR = BOTH
MINIMUM = (3, 11)


def check(context: DoctorContext, version: tuple[int, ...] | None = None) -> CheckResult:
    version = tuple(version or sys.version_info[:3])
    text = ".".join(str(part) for part in version)
    details = {"version": text, "executable": sys.executable, "implementation": platform.python_implementation()}
    if version[:2] < MINIMUM:
        return CheckResult(
            NAME, "fail", f"Python {text} is too old: SwapCast needs {MINIMUM[0]}.{MINIMUM[1]} or newer",
            fix=f"install Python 3.11, then: {setup_script(context.system)} --recreate --python /path/to/python3.11",
            needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(NAME, "ok", f"Python {text} ({sys.executable})", needed_for=NEEDED_FOR, details=details)
