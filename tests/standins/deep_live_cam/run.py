#!/usr/bin/env python3
"""Stand-in for Deep-Live-Cam's `python run.py -s SOURCE -t TARGET -o OUTPUT …` (see tests/standins/README.md).

Like the real program it reports through "[DLC.*] …" lines and exits 0 when it refuses its inputs.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from standin_common import behaviour, process, record_argv  # noqa: E402

from modules import metadata  # noqa: E402


def main() -> int:
    record_argv(sys.argv[1:])
    program = argparse.ArgumentParser(prog="run.py")
    program.add_argument("-s", "--source", dest="source_path")
    program.add_argument("-t", "--target", dest="target_path")
    program.add_argument("-o", "--output", dest="output_path")
    program.add_argument("--frame-processor", dest="frame_processor", default=["face_swapper"],
                         choices=["face_swapper", "face_enhancer"], nargs="+")
    program.add_argument("--keep-fps", action="store_true")
    program.add_argument("--keep-audio", action="store_true", default=True)
    program.add_argument("--many-faces", action="store_true")
    program.add_argument("--video-encoder", choices=["libx264", "libx265", "libvpx-vp9"], default="libx264")
    program.add_argument("--video-quality", type=int, choices=range(52), metavar="[0-51]", default=18)
    program.add_argument("--execution-provider", nargs="+", default=["cpu"], choices=["cpu", "cuda", "coreml", "rocm"])
    program.add_argument("--execution-threads", type=int, default=8)
    program.add_argument("-v", "--version", action="version", version=f"{metadata.name} {metadata.version}")
    args = program.parse_args()
    what = behaviour()
    if what == "slow_start":  # loading models before it prints anything
        time.sleep(float(os.environ.get("SWAPCAST_STANDIN_DELAY", "1.0")))
    if what == "no_face" or not os.path.isfile(args.source_path or ""):
        print("[DLC.FACE-SWAPPER] No face in source path detected.", flush=True)
        return 0  # as upstream: a refusal is not an exit code
    if what == "fail":
        print("[DLC.CORE] Processing to video failed!", flush=True)
        return 0
    print("[DLC.CORE] Processing...", flush=True)
    return process(args.target_path, args.output_path, what, "[DLC.CORE] Processing to {kind} succeed!")


if __name__ == "__main__":
    sys.exit(main())
