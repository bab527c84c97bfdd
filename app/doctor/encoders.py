"""Video encoders PyAV can really open: compiled in is not enough (NVENC without a GPU, QSV without Intel)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .capture import captured_stderr
from .result import ONLY_OFFLINE, CheckResult, DoctorContext

NAME = "encoders"
NEEDED_FOR = ONLY_OFFLINE
SOFTWARE = ("libx264", "libx265")
HARDWARE = ("h264_nvenc", "hevc_nvenc", "h264_videotoolbox", "h264_qsv", "h264_amf")
REQUIRED = "libx264"
OPEN_TIMEOUT = 5.0  # a hardware encoder whose driver hangs must not hang the doctor

# Pixel formats each encoder takes from system memory; x265 is told to keep its banner to itself.
_PIX_FMT = {"h264_qsv": "nv12", "h264_videotoolbox": "nv12"}
_OPTIONS = {"libx265": {"x265-params": "log-level=none"}}


@dataclass(frozen=True)
class EncoderProbe:
    name: str
    compiled: bool
    opens: bool
    error: str | None = None


def _open(name: str) -> None:
    import av

    context: Any = av.CodecContext.create(name, "w")
    context.width = 256  # above every hardware encoder's minimum, a multiple of 16 for QSV
    context.height = 256
    context.pix_fmt = _PIX_FMT.get(name, "yuv420p")
    context.time_base = Fraction(1, 30)
    context.framerate = Fraction(30, 1)
    context.options = dict(_OPTIONS.get(name, {}))
    context.open()  # freed when `context` goes out of scope; PyAV has no explicit close for it


def probe_encoder(name: str, available: set[str] | frozenset[str]) -> EncoderProbe:
    if name not in available:
        return EncoderProbe(name, False, False, "not in this FFmpeg build")
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            _open(name)
            outcome.append(None)
        except Exception as error:
            outcome.append(str(error) or type(error).__name__)

    with captured_stderr() as log:
        worker = threading.Thread(target=attempt, daemon=True, name=f"doctor-open-{name}")
        worker.start()
        worker.join(OPEN_TIMEOUT)
    if not outcome:
        return EncoderProbe(name, True, False, f"opening did not finish within {OPEN_TIMEOUT:.0f} s")
    error = outcome[0]
    if error is not None:
        # FFmpeg's own words ("Cannot load libcuda.so.1") say more than the errno.
        said = [line.strip() for line in log.text.splitlines() if line.strip()]
        if said:
            error = f"{error} — {said[-1][:200]}"
        return EncoderProbe(name, True, False, error)
    return EncoderProbe(name, True, True)


def check(context: DoctorContext) -> CheckResult:
    try:
        import av
    except Exception as error:
        return CheckResult(
            NAME, "fail", f"PyAV cannot be imported: {error}", fix="pip install av (or re-run the set-up script)",
            needed_for=NEEDED_FOR,
        )
    available = frozenset(av.codecs_available)
    probes = [probe_encoder(name, available) for name in SOFTWARE + HARDWARE]
    details = {"pyav": av.__version__, "encoders": probes}
    usable = [p.name for p in probes if p.opens]
    hardware = [name for name in usable if name in HARDWARE]
    hw_text = f"hardware: {', '.join(hardware)}" if hardware else "no hardware encoder"
    if REQUIRED not in usable:
        why = next(p.error for p in probes if p.name == REQUIRED)
        return CheckResult(
            NAME, "fail", f"libx264 cannot be used ({why}): videos cannot be written",
            fix="reinstall PyAV from its wheels, which bundle FFmpeg with libx264: pip install --force-reinstall av",
            needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(NAME, "ok", f"{', '.join(n for n in usable if n in SOFTWARE)}; {hw_text}", needed_for=NEEDED_FOR, details=details)
