"""The audio input live lip sync listens to; none (or no PortAudio) is a warning with the fix, since
everything else works without it and an audio file can stand in for a microphone."""

from __future__ import annotations

from app.devices.audio_input import AudioInputStatus, audio_input_status

from .result import ONLY_LIVE, CheckResult, DoctorContext

NAME = "audio input"
NEEDED_FOR = ONLY_LIVE


def check(context: DoctorContext, status: AudioInputStatus | None = None) -> CheckResult:
    status = status or audio_input_status()
    details = {"devices": [device.label() for device in status.devices]}
    if not status.available:
        return CheckResult(NAME, "warn", f"{status.problem} — live lip sync can only play audio files",
                           fix=status.fix, needed_for=frozenset(), details=details)
    count = len(status.devices)
    return CheckResult(NAME, "ok", f"{count} input device{'s' * (count != 1)}: {status.devices[0].name}"
                       + (", …" if count > 1 else ""), needed_for=NEEDED_FOR, details=details)
