"""Which process holds a running job, and whether that process still exists.

A PROCESSING job records the host, pid and start time of the process that claimed it (the one
whose threads run it and renew its lease). On the same host a worker can then tell at once that
the holder is gone (kill -9, a crash, a power cut of a container) instead of waiting out the
lease. The start time tells a pid the system reused for another process from the holder itself.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

# psutil derives start times from the boot time, which the kernel may shift by a little when the
# clock is adjusted; two readings of one process can differ by that much, a reused pid by far more.
_START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started_at: float  # Unix time the process started (psutil's create_time)

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())

    def is_gone(self, here: ProcessIdentity) -> bool:
        """True only when this process surely no longer exists: same host as `here`, and its pid
        is free or taken by a process that started at another time. Unknown → False (the lease
        decides)."""
        if self.host != here.host:
            return False
        if self.pid == here.pid:
            return abs(self.started_at - here.started_at) > _START_TOLERANCE_S
        try:
            started = psutil.Process(self.pid).create_time()
        except psutil.NoSuchProcess:
            return True
        except (psutil.AccessDenied, OSError):
            return False
        return abs(started - self.started_at) > _START_TOLERANCE_S


_cached: ProcessIdentity | None = None


def this_process() -> ProcessIdentity:
    """The current process's identity (computed again in a forked child)."""
    global _cached
    if _cached is None or _cached.pid != os.getpid():
        _cached = ProcessIdentity.current()
    return _cached
