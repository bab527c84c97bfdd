"""The virtual camera SwapCast streams to; missing is a warning with the set-up command."""

from __future__ import annotations

from app.devices.virtual_camera import VirtualCameraStatus, detect_virtual_camera

from .result import ONLY_LIVE, CheckResult, DoctorContext

NAME = "virtual camera"
NEEDED_FOR = ONLY_LIVE


def check(context: DoctorContext, status: VirtualCameraStatus | None = None) -> CheckResult:
    status = status or detect_virtual_camera(context.root, system=context.system)
    details = {"virtual_camera": status}
    if not status.available:
        return CheckResult(
            NAME, "warn", f"{status.problem or 'no virtual camera'} — the preview works, but no app can see the output",
            fix=status.fix, needed_for=NEEDED_FOR, details=details,
        )
    # exclusive_caps off: Chrome/WebRTC apps will not list the camera, a real limit worth a warning.
    if status.exclusive_caps is False:
        return CheckResult(
            NAME, "warn", status.summary() + ", but exclusive_caps is off (browsers will not list it)",
            fix=next((n.split("reload with: ", 1)[-1] for n in status.notes if "reload with" in n), None),
            needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(NAME, "ok", status.summary(), needed_for=NEEDED_FOR, details=details)
