"""`swapcast cameras`: the cameras `swapcast live --camera` can use — index, device, name, sizes."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.devices import CameraInfo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cameras", help="list cameras (index, device, name, sizes)",
                                   description="List the cameras `swapcast live --camera` can open.")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(handler=run)


def camera_dict(camera: CameraInfo) -> dict[str, object]:
    return {
        "index": camera.index,
        "path": camera.path,
        "name": camera.name,
        "driver": camera.driver,
        "status": camera.status,
        "in_use_by": list(camera.in_use_by),
        "sizes": [[w, h] for w, h in camera.sizes()],
        "modes": [{"pixel_format": m.pixel_format, "width": m.width, "height": m.height, "fps": list(m.fps)}
                  for m in camera.modes],
    }


def run(args: argparse.Namespace) -> int:
    from app.devices import list_cameras

    cameras = list_cameras()
    if args.json:
        print(json.dumps([camera_dict(c) for c in cameras], indent=2))
        return 0
    if not cameras:
        print("no cameras found — plug one in (and check `swapcast doctor`), "
              "or play a video file as the camera: swapcast live --camera FILE ...")
        return 0
    for camera in cameras:
        where = camera.path or "-"
        print(f"{camera.index:>3}  {where:<14} {camera.name}")
        sizes = camera.sizes()
        if sizes:
            best_fps: dict[tuple[int, int], float] = {}
            for mode in camera.modes:
                if mode.fps:
                    key = (mode.width, mode.height)
                    best_fps[key] = max(best_fps.get(key, 0.0), max(mode.fps))
            shown = ", ".join(f"{w}x{h}" + (f"@{best_fps[(w, h)]:g}" if (w, h) in best_fps else "") for w, h in sizes)
            print(f"     sizes: {shown}")
        if not camera.usable:
            print(f"     {camera.status}")
        if camera.in_use_by:
            print(f"     in use by: {', '.join(camera.in_use_by)}")
    print("use one with: swapcast live --camera INDEX|DEVICE ...")
    return 0
