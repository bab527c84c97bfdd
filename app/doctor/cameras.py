"""Cameras to capture from; none is a warning (a video file can stand in for a camera)."""

from __future__ import annotations

from app.devices.cameras import VIDEO_GROUP_FIX, CameraInfo, list_cameras

from .result import ONLY_LIVE, CheckResult, DoctorContext

NAME = "cameras"
NEEDED_FOR = ONLY_LIVE
NO_CAMERA_FIX = "use --camera FILE to play a video file as a camera"


def _describe(camera: CameraInfo) -> str:
    sizes = camera.sizes()
    best = f" up to {sizes[0][0]}×{sizes[0][1]}" if sizes else ""
    return f"{camera.label()}{best}"


def _fix_for(cameras: list[CameraInfo]) -> str:
    statuses = [c.status for c in cameras]
    if any(s.startswith("permission denied") for s in statuses):
        return VIDEO_GROUP_FIX
    if any(s.startswith("busy") for s in statuses):
        return "close the program that holds the camera (OBS, a browser tab, a meeting app), or " + NO_CAMERA_FIX
    return NO_CAMERA_FIX


def check(context: DoctorContext) -> CheckResult:
    cameras = list_cameras(context.root, system=context.system)
    details = {"cameras": cameras}
    if not cameras:
        return CheckResult(NAME, "warn", "no camera found", fix=NO_CAMERA_FIX, needed_for=NEEDED_FOR, details=details)
    usable = [c for c in cameras if c.usable]
    troubled = [f"{c.label()}: {c.status}" for c in cameras if not c.usable]
    in_use = [f"{c.label()} is open in {', '.join(c.in_use_by)}" for c in usable if c.in_use_by]
    summary = f"{len(cameras)} camera{'s' if len(cameras) != 1 else ''}: " + "; ".join(_describe(c) for c in cameras)
    if not usable:
        return CheckResult(
            NAME, "warn", summary + " — none usable now: " + "; ".join(troubled),
            fix=_fix_for(cameras),
            needed_for=NEEDED_FOR, details=details,
        )
    if troubled or in_use:
        return CheckResult(
            NAME, "warn", summary + " — " + "; ".join(troubled + in_use),
            fix="close the program that holds the camera, or pick another one" if in_use else None,
            needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(NAME, "ok", summary, needed_for=NEEDED_FOR, details=details)
