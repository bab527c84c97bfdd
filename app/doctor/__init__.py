"""`swapcast doctor`: checks that say what works, what does not, and the command that fixes it."""

from .result import BOTH, LIVE, OFFLINE, CheckResult, DoctorContext, Status
from .runner import CHECKS, Check, all_ok, ready_for, run_checks, run_one

__all__ = [
    "BOTH",
    "LIVE",
    "OFFLINE",
    "CHECKS",
    "Check",
    "CheckResult",
    "DoctorContext",
    "Status",
    "all_ok",
    "ready_for",
    "run_checks",
    "run_one",
]
