"""`swapcast lipsync`: make the face of a video or photo speak an audio file (Wav2Lip), through the job
queue like `swapcast swap` (progress, Ctrl-C cancels, `jobs list` shows it, the output tagged AI-altered).

The output's sound is the given audio and its length the audio's: a shorter video loops (--fit loop)
or the output stops with it (--fit trim); a photo becomes a video (--photo-fps). To swap a face too,
in the same pass: `swapcast swap -s FACE -t VIDEO --lip-sync AUDIO -o OUT`.
"""

from __future__ import annotations

import argparse

from engines.base import OFFLINE_FACE_SELECTIONS

from app.jobs.cli_options import add_lip_sync_tuning
from app.jobs.model import ENCODERS

from . import swap_cmd


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lipsync", help="make a video's or photo's face speak an audio file (runs through the job queue, waits)",
        description="Move the mouth of the face in TARGET (a video or a photo) with AUDIO, and give the output "
                    "that audio. The job is queued and run here; Ctrl-C cancels it and leaves nothing half-written.")
    parser.add_argument("-t", "--target", dest="targets", action="append", required=True, metavar="TARGET",
                        help="video or photo with the face to animate, or a folder of them (repeatable)")
    parser.add_argument("-a", "--audio", dest="lip_sync", required=True, metavar="AUDIO",
                        help="the speech: any file with sound (.wav, .mp3, .m4a, .ogg, a video…); "
                             "it becomes the output's audio")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                        help="output video (.mp4, .mkv, .mov), or a folder for several targets")
    add_lip_sync_tuning(parser)
    parser.add_argument("--faces", choices=[mode.value for mode in OFFLINE_FACE_SELECTIONS if mode.value != "reference"],
                        default=None, help="which faces speak (default: largest)")
    parser.add_argument("--quality", type=int, metavar="N", help="video quality 0..100 (higher is better)")
    parser.add_argument("--encoder", choices=ENCODERS, default="auto", help="video encoder (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    # What `swap` has and lip sync alone does not use: fixed here, so the one spec_from_args reads them.
    parser.set_defaults(handler=swap_cmd.run, needs_consent=True, sources=[], reference=None, source_face=None,
                        trim=None, enhance=False, enhance_blend=0.8, audio=True)
