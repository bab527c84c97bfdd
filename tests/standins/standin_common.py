"""What the stand-in engines share: the scripted behaviour and the tqdm-like progress bar."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}


def behaviour() -> str:
    script = [item.strip() for item in os.environ.get("SWAPCAST_STANDIN", "success").split(",") if item.strip()]
    state = os.environ.get("SWAPCAST_STANDIN_STATE")
    run = 0
    if state:
        path = Path(state)
        run = int(path.read_text() or 0) if path.exists() else 0
        path.write_text(str(run + 1))
    return script[min(run, len(script) - 1)] if script else "success"


def record_argv(argv: list[str]) -> None:
    pid_file = os.environ.get("SWAPCAST_STANDIN_PID")
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    target = os.environ.get("SWAPCAST_STANDIN_ARGV")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(argv) + "\n")


def frames() -> int:
    return int(os.environ.get("SWAPCAST_STANDIN_FRAMES", "6"))


def bar(done: int, total: int, started: float) -> str:
    """One redraw of a tqdm bar as FaceFusion and Deep-Live-Cam print it (ascii ' =')."""
    width = 10
    filled = int(width * done / total)
    rate = done / max(1e-3, time.monotonic() - started)
    return (f"\rProcessing: {100 * done // total:3d}%|{'=' * filled}{' ' * (width - filled)}| {done}/{total} "
            f"[00:00<00:00, {rate:.2f}frame/s, execution_providers=['cpu']]")


def process(target: str, output: str, what: str, on_done_message: str) -> int:
    """Run one scripted behaviour on target → output; returns the exit code."""
    is_video = Path(target).suffix.lower() in VIDEO_SUFFIXES
    if what == "garbage":
        sys.stdout.buffer.write(os.urandom(2048) + b"\n" + os.urandom(512))
        sys.stdout.flush()
        Path(output).write_bytes(os.urandom(4096))
        return 0
    total = frames() if is_video else 1
    started = time.monotonic()
    for done in range(1, total + 1):
        if is_video:
            sys.stderr.write(bar(done, total, started))
            sys.stderr.flush()
        time.sleep(0.01)
        if done == max(1, total // 2) and what in ("crash", "hang"):
            if what == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(3600)
    if is_video:
        sys.stderr.write("\n")
    shutil.copyfile(target, output)
    print(on_done_message.format(kind="video" if is_video else "image"), flush=True)
    return 0
