"""Running an external engine's CLI: read its output as it comes, kill it when it hangs.

Three clocks guard a run (see Timeouts): the time to the first line (models may take a while to
load: a slow start is fine), the longest silence once it has started (a hang), and the whole run.
The process gets its own process group so that its children (ffmpeg) die with it.

Output is read on a helper thread (a blocking read cannot time out) and handled on the caller's
thread, so the caller's progress callback may raise to cancel: the process is then killed.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from .config import Timeouts
from .errors import EngineTimeout, EngineUnavailable

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_EOF = object()
HEARTBEAT_S = 0.25  # how often the caller hears from us when the engine is silent (cancel checks)
KILL_GRACE_S = 3.0  # SIGTERM, then SIGKILL after this


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    lines: tuple[str, ...]  # the last lines it printed (progress and messages)
    seconds: float
    saw_output: bool
    garbage_lines: int  # lines that were mostly not text


def _is_garbage(line: str) -> bool:
    if not line:
        return False
    bad = sum(1 for ch in line if ch == "\ufffd" or (ord(ch) < 32 and ch != "\t"))
    return bad > max(2, len(line) // 4)


def _text(raw: bytes) -> str:
    return _ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip()


def _reader(stream: IO[bytes], out: queue.Queue[object], complete: Callable[[str], bool] | None) -> None:
    """Bytes → lines split on \\n and \\r.

    tqdm writes "\\r" + bar, the separator *before* the text, so the newest bar would wait for the
    next redraw; `complete` says when unterminated text is whole already (a bar ending in "]").
    """
    pending = b""
    fd = stream.fileno()
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            parts = re.split(rb"[\r\n]", pending)
            pending = parts.pop()
            for part in parts:
                if part.strip():
                    out.put(_text(part))
            if pending.strip() and complete is not None and complete(_text(pending)):
                out.put(_text(pending))
                pending = b""
            if len(pending) > 1 << 20:  # a megabyte with no line break: hand it over as one "line"
                out.put(pending[:4096].decode("utf-8", errors="replace"))
                pending = b""
    except OSError:
        pass
    finally:
        if pending.strip():
            out.put(_text(pending))
        out.put(_EOF)


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process and its group; SIGKILL what is left after a grace period."""
    if process.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
        process.wait(timeout=KILL_GRACE_S)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        pass
    if process.poll() is None:
        try:
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass
        process.wait(timeout=KILL_GRACE_S)


def run_tool(
    argv: Sequence[str],
    *,
    name: str,
    timeouts: Timeouts,
    on_line: Callable[[str], None],
    heartbeat: Callable[[], None] = lambda: None,
    complete: Callable[[str], bool] | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProcessOutcome:
    """Run to the end; EngineTimeout (after killing it) on a slow start, a hang or an overrun.

    Exceptions from on_line/heartbeat (a cancelled job) kill the process and propagate.
    """
    popen_extra: dict[str, object] = {}
    if os.name == "posix":
        popen_extra["start_new_session"] = True
    else:
        popen_extra["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    try:
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, **popen_extra)  # type: ignore[call-overload]
    except OSError as error:
        raise EngineUnavailable(f"{name}: cannot start {argv[0]}: {error.strerror or error}",
                                "check the engine's path and python in integrations.json") from error
    lines: queue.Queue[object] = queue.Queue()
    reader = threading.Thread(target=_reader, args=(process.stdout, lines, complete), name=f"{name}-output", daemon=True)
    reader.start()
    tail: deque[str] = deque(maxlen=40)
    started = clock()
    last_output: float | None = None
    last_beat = started
    garbage = 0
    finished = False
    try:
        while True:
            try:
                item = lines.get(timeout=0.1)
            except queue.Empty:
                item = None
            now = clock()
            if item is _EOF:
                break
            if isinstance(item, str):
                last_output = now
                tail.append(item)
                garbage += _is_garbage(item)
                on_line(item)
            if now - last_beat >= HEARTBEAT_S:
                last_beat = now
                heartbeat()
            _check_clocks(name, timeouts, started, last_output, now, tail)
        # Output closed: the process is exiting (or closed its stdout and lives on: it is silent
        # from now, so the idle clock runs from here).
        closed_at = clock()
        while process.poll() is None:
            time.sleep(0.05)
            now = clock()
            if now - last_beat >= HEARTBEAT_S:
                last_beat = now
                heartbeat()
            _check_clocks(name, timeouts, started, max(last_output or started, closed_at), now, tail)
        finished = True
        return ProcessOutcome(process.returncode, tuple(tail), clock() - started, last_output is not None, garbage)
    finally:
        if not finished:
            kill_tree(process)
        reader.join(timeout=2.0)
        if process.stdout is not None:
            process.stdout.close()


def _check_clocks(name: str, timeouts: Timeouts, started: float, last_output: float | None, now: float,
                  tail: deque[str]) -> None:
    last = f" (last output: {tail[-1][:120]!r})" if tail else ""
    if last_output is None and now - started > timeouts.start_s:
        raise EngineTimeout(f"{name} did not start: no output within {timeouts.start_s:g} s; it was stopped",
                            "raise timeouts.startS in integrations.json if it needs longer to load")
    if last_output is not None and now - last_output > timeouts.idle_s:
        raise EngineTimeout(f"{name} hung: no output for {timeouts.idle_s:g} s; it was stopped{last}",
                            "it will be retried; raise timeouts.idleS if it is only slow")
    if now - started > timeouts.total_s:
        raise EngineTimeout(f"{name} took longer than {timeouts.total_s:g} s; it was stopped{last}",
                            "raise timeouts.totalS in integrations.json for long videos")
