"""Which video encoder to use, and how one quality number maps onto each encoder's own knob.

Being compiled into FFmpeg proves nothing for a hardware encoder (PyAV's wheels ship NVENC and QSV
everywhere): `auto` opens a tiny context of each candidate and keeps the first that really opens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from engines.errors import InputError

SOFTWARE = ("libx264", "libx265")
HARDWARE = (
    "h264_nvenc",
    "hevc_nvenc",
    "h264_videotoolbox",
    "hevc_videotoolbox",
    "h264_qsv",
    "hevc_qsv",
    "h264_amf",
    "hevc_amf",
)
ENCODER_CHOICES = ("auto",) + SOFTWARE + HARDWARE
# `auto` stays with H.264: every player and editor takes it, which is not yet true of HEVC.
AUTO_ORDER = ("h264_nvenc", "h264_videotoolbox", "h264_qsv", "h264_amf")
FALLBACK = "libx264"
OPEN_TIMEOUT_S = 5.0  # a hardware driver that hangs on open must not hang a job

# What each encoder takes from system memory (every one of them also reads yuv420p except QSV).
_PIX_FMT = {"h264_qsv": "nv12", "hevc_qsv": "nv12"}
_QUIET = {"libx265": {"x265-params": "log-level=none"}}

_open_cache: dict[str, str | None] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder that will run, how it is configured, and why (for the job log)."""

    name: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    # Attributes set on the codec context (VideoToolbox and QSV take quality there, not as options).
    context: dict[str, Any] = field(default_factory=dict)
    requested: str = "auto"
    note: str | None = None  # e.g. why `auto` fell back

    @property
    def hardware(self) -> bool:
        return self.name in HARDWARE


def _try_open(name: str) -> None:
    context: Any = av.CodecContext.create(name, "w")
    context.width = 256  # over every hardware minimum and a multiple of 16 for QSV
    context.height = 256
    context.pix_fmt = _PIX_FMT.get(name, "yuv420p")
    context.time_base = Fraction(1, 30)
    context.framerate = Fraction(30, 1)
    context.options = dict(_QUIET.get(name, {}))
    context.open()


def open_error(name: str) -> str | None:
    """None when `name` opens on this machine, else why not. Cached: drivers do not change mid-run."""
    with _cache_lock:
        if name in _open_cache:
            return _open_cache[name]
    if name not in av.codecs_available:
        error: str | None = "not in this FFmpeg build"
    else:
        outcome: list[str | None] = []

        def attempt() -> None:
            try:
                _try_open(name)
                outcome.append(None)
            except Exception as exc:  # any failure means "cannot use it", with FFmpeg's reason
                outcome.append(str(exc) or type(exc).__name__)

        worker = threading.Thread(target=attempt, daemon=True, name=f"media-open-{name}")
        worker.start()
        worker.join(OPEN_TIMEOUT_S)
        error = outcome[0] if outcome else f"opening did not finish within {OPEN_TIMEOUT_S:.0f} s"
    with _cache_lock:
        _open_cache[name] = error
    return error


# Speed presets when the user names none: x264's own default (medium) encodes 1080p at ~9 fps on
# two cores, slower than the swap itself; veryfast costs little size at the same CRF.
DEFAULT_PRESETS: dict[str, str] = {"libx264": "veryfast", "libx265": "fast", "h264_nvenc": "p4", "hevc_nvenc": "p4"}


def quality_settings(name: str, quality: int) -> tuple[dict[str, str], dict[str, Any]]:
    """(codec options, codec-context attributes) for one quality number on the CRF scale (0–51,
    lower is better, ~18 visually lossless, 23 x264's default) so that one setting means roughly
    the same thing whichever encoder runs."""
    q = max(0, min(51, int(quality)))
    if name in SOFTWARE:
        return {"crf": str(q)}, {}
    if name.endswith("_nvenc"):
        # Constant quality: VBR with a CQ target and no bitrate cap.
        return {"rc": "vbr", "cq": str(q), "b": "0"}, {}
    if name.endswith("_amf"):
        return {"rc": "cqp", "qp_i": str(q), "qp_p": str(q), "qp_b": str(q)}, {}
    if name.endswith("_qsv"):
        return {}, {"global_quality": max(1, q)}  # ICQ mode
    if name.endswith("_videotoolbox"):
        # VideoToolbox's -q:v runs 1–100, higher is better; FF_QP2LAMBDA (118) scales it.
        vt = max(1, min(100, round(100 - q * 100 / 51)))
        return {}, {"qscale": True, "global_quality": vt * 118}
    return {}, {}


def resolve_encoder(requested: str, quality: int = 20, preset: str | None = None) -> EncoderChoice:
    """Turn the user's encoder option into one that opens here, with its quality settings."""
    requested = (requested or "auto").lower()
    if requested not in ENCODER_CHOICES:
        raise InputError(
            f"unknown video encoder '{requested}'", f"use one of: {', '.join(ENCODER_CHOICES)}"
        )
    note = None
    if requested == "auto":
        name = next((n for n in AUTO_ORDER if open_error(n) is None), FALLBACK)
        if name == FALLBACK:
            note = "no hardware encoder opens here; using libx264"
    else:
        name = requested
        why = open_error(name)
        if why is not None:
            raise InputError(
                f"video encoder {name} cannot be used here ({why})",
                "use --encoder auto (falls back to libx264) or run `swapcast doctor` to see what opens",
            )
    options, context = quality_settings(name, quality)
    options.update(_QUIET.get(name, {}))
    preset = preset or DEFAULT_PRESETS.get(name)
    if preset:
        options["preset"] = preset
    return EncoderChoice(
        name=name,
        pix_fmt=_PIX_FMT.get(name, "yuv420p"),
        options=options,
        context=context,
        requested=requested,
        note=note,
    )
