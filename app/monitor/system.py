"""CPU load, RAM and this process's memory via psutil, cheap enough to read every second."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class SystemStats:
    cpu_percent: float  # whole machine, since the previous read (0.0 on the very first read)
    cpu_count: int
    ram_used: int  # bytes
    ram_total: int  # bytes
    process_rss: int  # bytes
    process_cpu_percent: float  # this process; may exceed 100 on several cores

    @property
    def ram_percent(self) -> float:
        return 100.0 * self.ram_used / self.ram_total if self.ram_total else 0.0


@dataclass
class SystemMonitor:
    """Keeps the psutil.Process so CPU percentages are measured between successive reads."""

    _process: psutil.Process = field(default_factory=psutil.Process, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def read(self) -> SystemStats:
        with self._lock:
            memory = psutil.virtual_memory()
            try:
                rss = int(self._process.memory_info().rss)
                process_cpu = float(self._process.cpu_percent(interval=None))
            except psutil.Error:
                rss, process_cpu = 0, 0.0
            return SystemStats(
                # interval=None never sleeps: it compares with the previous call.
                cpu_percent=float(psutil.cpu_percent(interval=None)),
                cpu_count=psutil.cpu_count() or 1,
                # total - available counts what programs really hold (not the page cache).
                ram_used=int(memory.total - memory.available),
                ram_total=int(memory.total),
                process_rss=rss,
                process_cpu_percent=process_cpu,
            )


_default = SystemMonitor()


def read_system() -> SystemStats:
    return _default.read()
