"""Starts an HTTP engine's server, and starts it again when it dies, with back-off.

A server that dies right after each start must not be relaunched in a tight loop: each restart
waits twice as long as the one before (up to a cap), and a server that stays healthy for a while
earns a fresh start of the count.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import Launch
from .process import kill_tree


@dataclass(frozen=True)
class SupervisorState:
    running: bool
    starts: int  # launches, the first one included
    crashes: int  # times the process was found dead without us stopping it
    exit_code: int | None  # of the last process that ended
    next_start_in_s: float  # 0 when a start is allowed now


class ServerSupervisor:
    def __init__(self, launch: Launch, healthy: Callable[[], bool], *, name: str,
                 backoff_s: float = 1.0, max_backoff_s: float = 60.0, stable_after_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.launch = launch
        self.name = name
        self._healthy = healthy
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._stable_after_s = stable_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._starts = 0
        self._crashes = 0
        self._failed_starts = 0  # consecutive starts that died or never answered
        self._not_before = 0.0
        self._exit_code: int | None = None

    def state(self) -> SupervisorState:
        with self._lock:
            self._reap()
            return SupervisorState(running=self._process is not None, starts=self._starts, crashes=self._crashes,
                                   exit_code=self._exit_code,
                                   next_start_in_s=max(0.0, self._not_before - self._clock()))

    def _reap(self) -> None:
        """Notice a process that died on its own (a crash, as far as we are concerned)."""
        if self._process is not None and self._process.poll() is not None:
            self._exit_code = self._process.returncode
            self._process = None
            self._crashes += 1
            if self._clock() - self._started_at < self._stable_after_s:
                self._failed_starts += 1
            self._schedule()

    def _schedule(self) -> None:
        delay = min(self._max_backoff_s, self._backoff_s * 2 ** max(0, self._failed_starts - 1))
        self._not_before = self._clock() + (delay if self._failed_starts else 0.0)

    def ensure_running(self) -> bool:
        """Start the server if it is not running and the back-off allows; True when it answers."""
        with self._lock:
            self._reap()
            if self._process is not None:
                if self._clock() - self._started_at >= self._stable_after_s:
                    self._failed_starts = 0  # it held up: the next crash starts the back-off afresh
                return self._healthy()
            if self._clock() < self._not_before:
                return False
            return self._start()

    def _start(self) -> bool:
        extra: dict[str, object] = {"start_new_session": True} if os.name == "posix" else {}
        self._starts += 1
        self._started_at = self._clock()
        try:
            self._process = subprocess.Popen(list(self.launch.command), cwd=self.launch.cwd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             **extra)  # type: ignore[call-overload]
        except OSError:
            self._process = None
            self._failed_starts += 1
            self._schedule()
            return False
        deadline = time.monotonic() + self.launch.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._reap()
                return False
            if self._healthy():
                return True
            time.sleep(0.1)
        # Never answered: stop it, and count a failed start.
        kill_tree(self._process)
        self._exit_code = self._process.returncode
        self._process = None
        self._failed_starts += 1
        self._schedule()
        return False

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                kill_tree(self._process)
                self._exit_code = self._process.returncode
                self._process = None
