"""Runs every check side by side, each in its own thread with a deadline; a check never raises."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import audio_input, cameras, encoders, folders, gpu, models, onnxruntime_check, python, virtual_camera
from .result import LIVE, OFFLINE, CheckResult, DoctorContext


@dataclass(frozen=True)
class Check:
    name: str
    needed_for: frozenset[str]
    run: Callable[[DoctorContext], CheckResult]
    timeout: float = 20.0


CHECKS: tuple[Check, ...] = (
    Check(python.NAME, python.NEEDED_FOR, python.check),
    Check(onnxruntime_check.BUILDS_NAME, onnxruntime_check.NEEDED_FOR, onnxruntime_check.check_builds),
    # Creating a session on a GPU provider (TensorRT most of all) can take seconds.
    Check(onnxruntime_check.PROVIDERS_NAME, onnxruntime_check.NEEDED_FOR, onnxruntime_check.check_providers, 60.0),
    Check(gpu.NAME, gpu.NEEDED_FOR, gpu.check),
    Check(cameras.NAME, cameras.NEEDED_FOR, cameras.check),
    Check(virtual_camera.NAME, virtual_camera.NEEDED_FOR, virtual_camera.check),
    Check(audio_input.NAME, audio_input.NEEDED_FOR, audio_input.check),
    # Verifying hashes of large files may take a while the first time.
    Check(models.NAME, models.NEEDED_FOR, models.check, 120.0),
    Check(encoders.NAME, encoders.NEEDED_FOR, encoders.check),
    Check(folders.NAME, folders.NEEDED_FOR, folders.check),
)


def run_one(check: Check, context: DoctorContext) -> CheckResult:
    """Runs a check in this thread, turning any exception into a failure that names it."""
    try:
        return check.run(context)
    except Exception as error:
        return CheckResult(
            check.name, "fail", f"the check itself failed: {type(error).__name__}: {error}",
            needed_for=check.needed_for,
        )


def run_checks(context: DoctorContext, checks: Sequence[Check] | None = None) -> list[CheckResult]:
    """All checks (default: CHECKS), in the order given, each bounded by its own timeout."""
    checks = CHECKS if checks is None else checks
    results: list[CheckResult | None] = [None] * len(checks)

    def work(slot: int, check: Check) -> None:
        results[slot] = run_one(check, context)

    # Daemon threads: a check stuck in a driver call must not keep the process alive.
    threads = [threading.Thread(target=work, args=(i, c), daemon=True, name=f"doctor-{c.name}") for i, c in enumerate(checks)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for slot, (thread, check) in enumerate(zip(threads, checks)):
        thread.join(max(0.0, check.timeout - (time.monotonic() - started)))
        if results[slot] is None:
            results[slot] = CheckResult(
                check.name, "fail", f"did not finish within {check.timeout:.0f} s (a driver or device is not answering)",
                needed_for=check.needed_for,
            )
    return [r for r in results if r is not None]


def ready_for(results: Sequence[CheckResult]) -> dict[str, bool]:
    """{"live": bool, "offline": bool}: no check needed for that work failed."""
    return {
        purpose: not any(r.status == "fail" and purpose in r.needed_for for r in results)
        for purpose in (LIVE, OFFLINE)
    }


def all_ok(results: Sequence[CheckResult]) -> bool:
    return not any(r.blocking for r in results)
