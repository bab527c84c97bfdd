#!/usr/bin/env python3
"""Stand-in for iRoopDeepFaceCam's `python run.py -s SOURCE -t TARGET -o OUTPUT …`: the Deep-Live-Cam
stand-in's program (same flags, same "[DLC.CORE] …" lines, as iRoop's modules/core.py keeps them) run
with this folder's modules/metadata.py, so it reports iRoop's name and version."""

import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deep_live_cam", "run.py"),
               run_name="__main__")
