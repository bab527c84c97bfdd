#!/usr/bin/env python3
"""Stand-in for `python facefusion.py headless-run …` of FaceFusion 3.x (see tests/standins/README.md).

Exit codes as FaceFusion documents them: 0 graceful, 1 fatal, 2 check failed, 3 content declined.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from standin_common import behaviour, process, record_argv  # noqa: E402

from facefusion import metadata  # noqa: E402


def main() -> int:
    record_argv(sys.argv[1:])
    program = argparse.ArgumentParser(prog="facefusion.py")
    program.add_argument("-v", "--version", action="version", version=metadata.get("name") + " " + metadata.get("version"))
    commands = program.add_subparsers(dest="command")
    run = commands.add_parser("headless-run")
    run.add_argument("-s", "--source-paths", nargs="+", required=True)
    run.add_argument("-t", "--target-path", required=True)
    run.add_argument("-o", "--output-path", required=True)
    run.add_argument("--processors", nargs="+", default=["face_swapper"], choices=["face_swapper", "face_enhancer"])
    run.add_argument("--face-selector-mode", choices=["many", "one", "reference"], default="reference")
    run.add_argument("--face-selector-order", choices=["left-right", "large-small", "small-large"])
    run.add_argument("--log-level", choices=["error", "warn", "info", "debug"], default="info")
    run.add_argument("--execution-providers", nargs="+")
    run.add_argument("--output-image-quality", type=int)
    run.add_argument("--output-video-quality", type=int)
    run.add_argument("--output-video-encoder")
    args = program.parse_args()
    if args.command != "headless-run":
        program.print_help()
        return 2
    for source in args.source_paths:
        if not os.path.isfile(source):
            print("[FACEFUSION.CORE] Choose an image for the source", flush=True)
            return 2
    if not os.path.isfile(args.target_path):
        print("[FACEFUSION.CORE] Choose an image or video for the target", flush=True)
        return 2
    what = behaviour()
    if what == "slow_start":  # loading models before it prints anything
        time.sleep(float(os.environ.get("SWAPCAST_STANDIN_DELAY", "1.0")))
    print("[FACEFUSION.CORE] Processing step 1 of 1", flush=True)
    if what == "no_face":
        print("[FACEFUSION.FACE_SWAPPER] No source face detected", flush=True)
        return 1
    if what == "fail":
        print("[FACEFUSION.CORE] Processing to video failed", flush=True)
        return 1
    return process(args.target_path, args.output_path, what, "[FACEFUSION.CORE] Processing to {kind} succeed in 0.05 seconds")


if __name__ == "__main__":
    sys.exit(main())
