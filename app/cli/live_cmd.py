"""`swapcast live`: swap the webcam feed in real time into a virtual camera, a network stream, a
recording and/or a preview window. Ctrl-C stops cleanly (the recording is finalised).

Exit status: 0 when every output asked for worked; 1 when one never did (a stream that never
connected, a virtual camera that never appeared) — the others ran on, and the summary printed at
the end names it; 2 for bad arguments, or when nothing asked for can work here (refused at start).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from app.models_option import models_override
from engines.base import LIVE_FACE_SELECTIONS
from engines.errors import InputError

if TYPE_CHECKING:
    from app.pipeline.api import LiveConfig, LiveStats, OutputStatus

from .common import fail

STATUS_EVERY_S = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live", help="swap faces in the camera feed live → virtual camera, stream, recording, preview",
        description="Swap SOURCE's face into the camera feed in real time. At least one output: "
                    "--virtual-cam, --stream, --record or --preview. --camera also takes a video file, "
                    "played at its own size and fps in a loop (for demos and tests without a camera). "
                    "At the end a summary per output (frames sent, failures, last error); the exit status "
                    "is 1 when an output asked for never worked, though the others ran on.")
    parser.add_argument("-s", "--source", action="append", type=Path, default=[], metavar="PHOTO",
                        help="a photo of the face to swap in (repeat for several; the first is active)")
    parser.add_argument("--camera", default="0", metavar="INDEX|DEVICE|FILE",
                        help="camera index (default 0), device path (/dev/video2), or a video file")
    parser.add_argument("--size", default="1280x720", metavar="WxH",
                        help="capture size to ask the camera for (default 1280x720; 'default' = the camera's own)")
    parser.add_argument("--fps", type=float, default=30.0, help="capture fps to ask for, and the virtual camera's rate (default 30)")
    parser.add_argument("--virtual-cam", action="store_true", help="send to the virtual camera (OBS, Zoom, Meet)")
    parser.add_argument("--vcam-backend", default="auto", choices=("auto", "v4l2loopback", "obs", "unitycapture"),
                        help="virtual camera backend (default auto)")
    parser.add_argument("--vcam-device", default=None, metavar="/dev/videoN", help="v4l2loopback device (Linux)")
    parser.add_argument("--stream", default=None, metavar="URL",
                        help="send a low-latency stream: udp://HOST:PORT (MPEG-TS), srt://HOST:PORT, rtmp://HOST/APP/KEY")
    parser.add_argument("--record", default=None, type=Path, metavar="FILE", help="record the swapped feed (.mp4, .mkv)")
    parser.add_argument("--overwrite", action="store_true", help="let --record replace an existing file")
    parser.add_argument("--preview", action="store_true", help="show a preview window (needs a display)")
    parser.add_argument("--mirror", action="store_true", help="mirror the picture left-right")
    parser.add_argument("--enhance", action="store_true", help="run the face enhancer (GFPGAN) on swapped faces")
    parser.add_argument("--faces", default="largest", choices=[mode.value for mode in LIVE_FACE_SELECTIONS],
                        help="which faces to swap (default: the largest)")
    parser.add_argument("--reference", action="append", default=[], metavar="IMAGE",
                        help="with --faces reference: swap only faces that look like this person (repeatable)")
    parser.add_argument("--position", type=int, default=0, metavar="N",
                        help="with --faces position: the N-th face from the left, from 0")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--stats-json", type=Path, default=None, metavar="FILE",
                        help="rewrite FILE every second with fps, latency, drops and per-stage times")
    lip = parser.add_argument_group("lip sync", "the mouth follows an audio input (the video waits ~0.1 s for it)")
    lip.add_argument("--lip-sync", action="store_true", help="move the mouth with --audio-in")
    lip.add_argument("--audio-in", default=None, metavar="DEVICE|FILE",
                     help="a microphone (index or part of its name, see --list-audio) or an audio file played in real time")
    lip.add_argument("--lip-sync-weight", type=float, default=1.0, metavar="0..1", help="how strongly (default 1)")
    lip.add_argument("--avatar", type=Path, default=None, metavar="PHOTO|LOOP.mp4",
                     help="animate a photo (or an idle loop video) with --audio-in instead of the camera; -s optional")
    lip.add_argument("--list-audio", action="store_true", help="list the audio inputs and exit")
    parser.set_defaults(handler=run, needs_consent=True)


_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int] | None:
    if text.strip().lower() in ("default", "auto", "camera"):
        return None
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 16 or int(match.group(2)) < 16:
        raise InputError(f"--size '{text}' is not WIDTHxHEIGHT", "e.g. --size 1280x720 or --size 1920x1080")
    return int(match.group(1)), int(match.group(2))


def config_from_args(args: argparse.Namespace) -> LiveConfig:
    from app.media.output import check_output
    from app.pipeline.api import LiveConfig
    from app.pipeline.outputs import check_stream_url
    from app.pipeline.preflight import check_outputs

    if not (args.virtual_cam or args.stream or args.record or args.preview):
        raise InputError("no output chosen", "add at least one of --virtual-cam, --stream URL, --record FILE, --preview")
    lip_sync = check_lip_sync_args(args)
    if not args.source and not lip_sync:
        raise InputError("no source face given", "pass -s PHOTO (the face to swap in)")
    for source in args.source:
        if not source.is_file():
            raise InputError(f"source photo {source} not found", "check the path")
    if args.faces == "reference" and not args.reference:
        raise InputError("--faces reference needs a photo of the person to replace", "add --reference IMAGE")
    for reference in args.reference:
        if not Path(reference).is_file():
            raise InputError(f"reference photo {reference} not found", "check the path")
    if args.fps <= 0 or args.fps > 240:
        raise InputError(f"--fps {args.fps:g} is out of range", "use e.g. --fps 30")
    if args.duration is not None and args.duration <= 0:
        raise InputError("--duration must be positive", "e.g. --duration 60")
    if args.stream:
        try:
            check_stream_url(args.stream)
        except ValueError as error:
            raise InputError(str(error)) from None
    inputs = [Path(p) for p in (args.camera, args.avatar, args.audio_in) if p and Path(p).is_file()]
    record = check_output(args.record, inputs=inputs, overwrite=args.overwrite) if args.record else None
    config = LiveConfig(
        sources=tuple(args.source), camera=str(args.camera), size=parse_size(args.size), fps=args.fps,
        virtual_cam=args.virtual_cam, vcam_backend=args.vcam_backend, vcam_device=args.vcam_device,
        stream_url=args.stream, record_path=record, preview=args.preview, mirror=args.mirror,
        enhance=args.enhance, face_mode=args.faces, references=tuple(Path(p) for p in args.reference),
        position=args.position, models=models_override(args), duration_s=args.duration,
        stats_json=args.stats_json, lip_sync=lip_sync, audio_in=args.audio_in,
        lip_sync_weight=args.lip_sync_weight, avatar=args.avatar,
    )
    # Refused now, before models load or the camera opens: an unwritable recording folder, or
    # outputs none of which can work here (the session checks again, for the GUI's sake).
    check_outputs(config)
    if record is not None and args.overwrite and record.exists():
        record.unlink()  # the recording only appears at the end; the user asked for the old one to go
    return config


def check_lip_sync_args(args: argparse.Namespace) -> bool:
    """Whether lip sync is on; one-line InputErrors for what cannot work (checked before models load)."""
    from app.devices.audio_input import open_audio_input

    lip_sync = bool(args.lip_sync or args.avatar)
    if args.audio_in and not lip_sync:
        raise InputError("--audio-in is only used for lip sync", "add --lip-sync (or --avatar PHOTO)")
    if not lip_sync:
        return False
    if not args.audio_in:
        raise InputError("lip sync needs an audio input", "add --audio-in DEVICE|FILE (`swapcast live --list-audio` lists devices)")
    if not 0.0 <= args.lip_sync_weight <= 1.0:
        raise InputError(f"--lip-sync-weight {args.lip_sync_weight:g} is out of range", "use a value from 0 to 1")
    if args.avatar is not None and not Path(args.avatar).is_file():
        raise InputError(f"avatar {args.avatar} not found", "give a photo or a short looping video of a face")
    open_audio_input(args.audio_in).close()  # the device or file is there (one line naming it if not)
    return True


def list_audio() -> int:
    from app.devices.audio_input import list_audio_inputs

    devices = list_audio_inputs()  # AudioUnavailable: one line with the fix
    if not devices:
        print("no audio input devices — plug in a microphone, or pass an audio FILE to --audio-in")
    for device in devices:
        print(device.label())
    return 0


def status_line(stats: LiveStats) -> str:
    outputs = ", ".join(f"{o.name} {o.state}" + (f" ({o.frames_sent})" if o.state == "ok" else "")
                        for o in stats.outputs)
    line = (f"{stats.state.value}: {stats.fps_out:5.1f} fps (camera {stats.fps_in:4.1f}), latency p50 "
            f"{stats.latency_ms_p50:5.1f} ms p95 {stats.latency_ms_p95:5.1f} ms, dropped {stats.dropped}"
            + (f" | {outputs}" if outputs else ""))
    flags = [name for name, on in (("bypass", stats.bypass), ("mirror", stats.mirror), ("enhance", stats.enhance)) if on]
    if flags:
        line += f" [{' '.join(flags)}]"
    if stats.lip_sync:
        line += (f" | lip sync: audio→frame p50 {stats.audio_latency_ms_p50:5.1f} ms p95 "
                 f"{stats.audio_latency_ms_p95:5.1f} ms, A/V delay {stats.av_delay_ms:5.1f} ms")
    if stats.engine is not None and stats.engine.state.value != "ok" and stats.state.value == "running":
        line += f" | engine {stats.engine.state.value}"
    if stats.message:
        line += f" | {stats.message}"
    return line


@contextmanager
def _sigterm_stops(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C: the recording is finalised."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _log_to_file() -> Iterator[Path | None]:
    """Warnings go to a log file, not between the status lines (the engine logs every frame it
    passes through unswapped; the status line already says the engine is degraded)."""
    import logging

    from app.paths import user_paths

    root = logging.getLogger()
    try:
        folder = user_paths().logs
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "live.log", encoding="utf-8")
        path: Path | None = folder / "live.log"
    except OSError:
        handler, path = logging.NullHandler(), None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    previous_level = root.level
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


def _quiet_opencv() -> None:
    # OpenCV prints its own warnings when a camera does not open; our message says it better.
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):
        pass


def run(args: argparse.Namespace) -> int:
    if args.list_audio:
        return list_audio()
    config = config_from_args(args)
    _quiet_opencv()
    with _log_to_file():
        return _run(config)


def _run(config: LiveConfig) -> int:
    from app.pipeline.api import SessionState
    from app.pipeline.session import LiveSession

    session = LiveSession(config)
    problems: dict[str, str] = {}
    terminate = threading.Event()
    tty = sys.stdout.isatty()
    shown = ""
    interrupted = False
    with _sigterm_stops(terminate):
        session.start()
        try:
            while not session.wait(STATUS_EVERY_S) and not terminate.is_set():
                stats = session.stats()
                line = status_line(stats)
                for output in stats.outputs:
                    # Say once, in full, why an output does not work (the status line only names its state).
                    if output.state in ("unavailable", "retrying") and problems.get(output.name) != output.detail:
                        problems[output.name] = output.detail
                        _print_above(f"{output.name}: {output.detail}", tty, shown)
                if tty:
                    shown = line
                    print("\r" + line[:200].ljust(200), end="", flush=True)
                else:
                    print(line, flush=True)
        except KeyboardInterrupt:
            interrupted = True
        if tty and shown:
            print()
        if interrupted or terminate.is_set():
            print("stopping…", flush=True)
        try:
            session.stop(timeout=30.0)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, the threads are daemons
            return fail("interrupted while stopping; the recording may be incomplete", 130)
    stats = session.stats()
    if stats.state is SessionState.FAILED:
        return fail(stats.message or "the live session failed", 1)
    print(f"stopped: {stats.frames} frames, {stats.dropped} dropped"
          + (f"; {stats.message}" if stats.message else ""))
    for output in stats.outputs:
        print(f"  {output_summary(output)}")
    broken = [o for o in stats.outputs if o.never_worked]
    if broken:
        # Ctrl-C is the normal way to end a live session, so it alone decides nothing: an output the
        # user asked for that never once worked does.
        return fail("; ".join(never_worked_line(o) for o in broken), 1)
    return 0


# What to do about an output that never worked, where its own last error does not already say it
# (the virtual camera's and the preview's carry their fix).
NEVER_WORKED_FIX = {
    "stream": "start the receiver first (OBS's Media Source, the RTMP server) and check the URL",
    "recording": "check the folder's free space and permissions",
}


def never_worked_line(output: OutputStatus) -> str:
    line = f"{output.name} never worked: {output.last_error}"
    fix = NEVER_WORKED_FIX.get(output.name)
    return f"{line} — {fix}" if fix and " — " not in output.last_error else line


def output_summary(output: OutputStatus) -> str:
    """'stream: 0 frames sent, 4 failures, last error: cannot open: Connection refused — never worked'."""
    line = f"{output.name}: {output.frames_sent} frames sent, {output.failures} failure{'s' * (output.failures != 1)}"
    if output.last_error:
        line += f", last error: {output.last_error}"
    if output.never_worked:
        line += " — never worked"
    elif output.name == "recording" and output.detail.startswith("saved "):
        line += f" — {output.detail}"
    return line


def _print_above(text: str, tty: bool, shown: str) -> None:
    if tty and shown:
        print("\r" + " " * 200 + "\r", end="")
    print(text, flush=True)
