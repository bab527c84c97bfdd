"""The process memory ceiling for avatar sessions: the resident set (psutil RSS) against a setting.

Three levels, each doing more (the manager acts on them):
- HIGH (≥ 80 %): close sessions no client is connected to;
- FULL (≥ 100 %): also collect garbage and refuse new sessions (503, one line);
- CRITICAL (≥ 120 %): close every session that is not processing a chunk right now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import psutil

HIGH_FRACTION = 0.8
FULL_FRACTION = 1.0
CRITICAL_FRACTION = 1.2


class MemoryLevel(IntEnum):
    NORMAL = 0
    HIGH = 1
    FULL = 2
    CRITICAL = 3


def level_of(used: int, ceiling: int) -> MemoryLevel:
    ratio = used / ceiling
    if ratio >= CRITICAL_FRACTION:
        return MemoryLevel.CRITICAL
    if ratio >= FULL_FRACTION:
        return MemoryLevel.FULL
    if ratio >= HIGH_FRACTION:
        return MemoryLevel.HIGH
    return MemoryLevel.NORMAL


def process_rss() -> int:
    return int(psutil.Process().memory_info().rss)


def default_ceiling() -> int:
    """Half the machine's memory: room for the models, the sessions and everything else the host runs."""
    return int(psutil.virtual_memory().total // 2)


@dataclass(frozen=True)
class MemoryReading:
    used: int
    ceiling: int
    level: MemoryLevel

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.ceiling


@dataclass(frozen=True)
class MemoryCeiling:
    ceiling: int
    used: Callable[[], int] = field(default=process_rss)

    def read(self) -> MemoryReading:
        used = self.used()
        return MemoryReading(used, self.ceiling, level_of(used, self.ceiling))
