"""The swap options, defined once for `swapcast jobs add` and `swapcast swap`, and their checks.

spec_from_args() validates what can be checked before a job is queued (files exist, option
combinations make sense) and raises InputError with one line naming the problem; paths become
absolute because the worker may run in another folder or process.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engines.base import OFFLINE_FACE_SELECTIONS, FaceSelection
from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from engines.video_fit import DEFAULT_STILL_FPS, VideoFit

from app.models_option import add_models_option, models_override

from .model import ENCODERS, JobSpec, is_remote_text
from .outputs import check_not_an_input, output_paths
from .remote import check_object_outputs, check_remote_input, check_remote_output

IMAGE_EXTENSIONS: frozenset[str] = frozenset(IMAGE_SUFFIXES)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(VIDEO_SUFFIXES)
MEDIA_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def add_swap_options(parser: argparse.ArgumentParser, *, models_option: bool = True) -> None:
    """Add -s/-t/-o and the other swap options to `parser`.

    `models_option`: also add --models DIR (skip it if the parser already has one).
    """
    parser.add_argument(
        "-s", "--source", dest="sources", action="append", required=True, metavar="SRC",
        help="image of the face to put in (repeat for several photos of the same person); a path, "
             "s3:// gs:// r2:// object, or https:// URL (with --allow-urls)",
    )
    parser.add_argument(
        "-t", "--target", dest="targets", action="append", required=True, metavar="TARGET",
        help="image or video to swap faces in, or a folder of them (repeatable); also s3:// gs:// r2:// "
             "objects and https:// URLs (with --allow-urls)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUTPUT",
        help="output file (one target) or folder (several targets), or an object URI "
             "(s3://bucket/prefix/name.mp4, gs://…, r2://…; a prefix ending in / for several targets)",
    )
    parser.add_argument("--allow-urls", action="store_true",
                        help="accept http(s):// inputs (public addresses only; downloaded into the job's folder)")
    parser.add_argument("--keep-local", action="store_true",
                        help="with an object-URI -o: keep the local render (in the job's folder) after the upload")
    parser.add_argument("--enhance", action="store_true", help="restore the swapped faces with the enhancer (GFPGAN)")
    parser.add_argument("--enhance-blend", type=float, default=0.8, metavar="AMOUNT",
                        help="with --enhance: how much of the enhanced face to keep, 0..1 (default 0.8)")
    parser.add_argument(
        "--faces", choices=[mode.value for mode in OFFLINE_FACE_SELECTIONS], default=None,
        help="which faces of the target to replace (default: largest; 'reference' with --reference)",
    )
    parser.add_argument("--reference", metavar="IMAGE", help="replace only the face that looks like this one")
    parser.add_argument(
        "--source-face", type=int, metavar="N",
        help="use face N (0 = left-most) of the source image instead of its largest face",
    )
    parser.add_argument(
        "--trim", nargs=2, type=float, metavar=("START", "END"), help="only swap this part of a video (seconds)"
    )
    parser.add_argument("--quality", type=int, metavar="N", help="video quality 0..100 (higher is better)")
    parser.add_argument("--encoder", choices=ENCODERS, default="auto", help="video encoder (default: auto)")
    parser.add_argument("--no-audio", dest="audio", action="store_false", help="drop the audio track")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--lip-sync", dest="lip_sync", metavar="AUDIO",
                        help="also move the mouths with this audio (any file with sound), in the same pass; the "
                             "output gets this audio and its length (see --fit)")
    add_lip_sync_tuning(parser)
    if models_option:
        add_models_option(parser)


def add_lip_sync_tuning(parser: argparse.ArgumentParser) -> None:
    """--lip-sync-weight, --fit, --photo-fps: for `swap --lip-sync`, `jobs add --lip-sync` and `lipsync`."""
    parser.add_argument("--lip-sync-weight", type=float, default=1.0, metavar="W",
                        help="with lip sync: how much of the synced mouth to blend in, 0..1 (default 1)")
    # Parsed by spec_from_args, not argparse choices: a bad value is one line with the fix, like every other error.
    parser.add_argument("--fit", default=VideoFit.LOOP.value, metavar="loop|trim",
                        help="with lip sync, a target video shorter than the audio: loop it to the audio's end "
                             "(default), or trim: stop with the video and cut the audio there")
    parser.add_argument("--photo-fps", type=float, default=DEFAULT_STILL_FPS, metavar="FPS",
                        help=f"with lip sync, the frame rate of the video a photo becomes (default {DEFAULT_STILL_FPS:g})")


def spec_from_args(args: argparse.Namespace) -> JobSpec:
    """The JobSpec the parsed options describe; InputError (one line) for anything wrong."""
    allow_urls = bool(getattr(args, "allow_urls", False))
    keep_local = bool(getattr(args, "keep_local", False))
    sources = [_input(path, "source face image", allow_urls) for path in getattr(args, "sources", None) or []]
    lip_sync = _lip_sync_audio(getattr(args, "lip_sync", None))
    fit = VideoFit.parse(getattr(args, "fit", VideoFit.LOOP.value))
    targets = expand_targets(args.targets, allow_urls=allow_urls)
    faces = FaceSelection.parse(args.faces, OFFLINE_FACE_SELECTIONS) if args.faces else None
    reference = _input(args.reference, "reference face image", allow_urls) if args.reference else None
    if faces is None:
        faces = FaceSelection.REFERENCE if reference else FaceSelection.LARGEST
    elif faces is FaceSelection.REFERENCE and reference is None:
        raise InputError("--faces reference needs --reference IMAGE", "name the face to replace")
    elif faces is not FaceSelection.REFERENCE and reference is not None:
        raise InputError(f"--reference only applies with --faces reference, not --faces {faces}")
    if is_remote_text(args.output):
        output = check_remote_output(args.output)
    else:
        if keep_local:
            raise InputError("--keep-local only applies to an object-URI output (-o s3://…)",
                             "drop --keep-local: a local -o is kept anyway")
        output = _absolute(args.output)
        _check_output(output, targets, [*sources, *([lip_sync] if lip_sync else [])], args.overwrite,
                      videos_only=lip_sync is not None)
    models = models_override(args)
    spec = JobSpec(
        sources=sources,
        targets=targets,
        output=output,
        enhance=bool(args.enhance),
        enhance_blend=_blend(getattr(args, "enhance_blend", 0.8)),
        faces=faces,
        reference=reference,
        source_face=args.source_face,
        trim=(float(args.trim[0]), float(args.trim[1])) if args.trim else None,
        quality=args.quality,
        encoder=args.encoder,
        audio=bool(args.audio),
        overwrite=bool(args.overwrite),
        models=_absolute(str(models)) if models is not None else None,
        allow_urls=allow_urls,
        keep_local=keep_local,
        lip_sync=lip_sync,
        lip_sync_weight=_unit(getattr(args, "lip_sync_weight", 1.0), "--lip-sync-weight", "1"),
        fit=fit,
        still_fps=float(getattr(args, "photo_fps", DEFAULT_STILL_FPS)),
    )
    problems = spec.problems()
    if problems:
        raise InputError("; ".join(problems))
    check_object_outputs(spec.object_destinations())
    return spec


def expand_targets(paths: list[str], *, allow_urls: bool = False) -> list[str]:
    """Files as given; folders become their image and video files (sorted, not recursive); remote
    targets (URLs, object URIs) as given, once their scheme is one SwapCast fetches."""
    files: list[str] = []
    for raw in paths:
        if is_remote_text(raw):
            files.append(check_remote_input(raw, allow_urls, "target"))
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)
            if not found:
                raise InputError(f"target folder has no images or videos: {path}")
            files.extend(str(p.resolve()) for p in found)
        elif path.is_file():
            files.append(str(path.resolve()))
        else:
            raise InputError(f"target not found: {raw}", "check the -t path")
    return list(dict.fromkeys(files))


def _input(raw: str, what: str, allow_urls: bool) -> str:
    if is_remote_text(raw):
        return check_remote_input(raw, allow_urls, what)
    return _existing_file(raw, what)


def _existing_file(raw: str, what: str) -> str:
    path = Path(raw).expanduser()
    if not path.is_file():
        problem = f"{what} is a folder, not a file: {raw}" if path.is_dir() else f"{what} not found: {raw}"
        raise InputError(problem, "check the path (quote it if it has spaces)")
    return str(path.resolve())


def _blend(value: float) -> float:
    return _unit(value, "--enhance-blend", "0.8")


def _unit(value: float, option: str, example: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{option} {value:g} is out of range", f"use a value from 0 to 1, e.g. {example}")
    return float(value)


def _lip_sync_audio(raw: str | None) -> str | None:
    """The lip-sync audio as an absolute path, once it is known to hold sound (checked before queueing)."""
    if raw is None:
        return None
    if is_remote_text(raw):
        raise InputError(f"the lip-sync audio must be a file on this machine, not {raw}", "download it first")
    from app.media.speech_audio import probe_speech  # PyAV: only when lip sync is asked for

    path = _existing_file(raw, "lip-sync audio")
    probe_speech(path)  # no audio stream, empty, unreadable: one line now, nothing queued
    return path


def _absolute(raw: str) -> str:
    return str(Path(raw).expanduser().resolve())


def _check_output(output: str, targets: list[str], sources: list[str], overwrite: bool,
                  videos_only: bool = False) -> None:
    path = Path(output)
    plans = output_paths(targets, output, videos_only=videos_only)
    for plan in plans:
        check_not_an_input(plan.output, [Path(t) for t in targets], [Path(s) for s in sources])
    if len(targets) > 1:
        if path.exists() and not path.is_dir():
            raise InputError(
                f"with {len(targets)} targets, -o must be a folder; {output} is a file", "choose a folder"
            )
    elif path.is_file() and not overwrite:
        raise InputError(f"output exists: {output}", "add --overwrite or choose another -o")
