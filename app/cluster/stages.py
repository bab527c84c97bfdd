"""Where a job's time goes on the cluster (the benchmark prints it): split, transfer, swap, join."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class StageTimes:
    """Seconds, summed over a run. split/join are wall time on the submitting machine; swap is the
    actors' decode+swap+encode summed over tasks (divide by actors for wall); transfer is what a task
    cost beyond that: object-store puts and gets, the actors' file writes, scheduling."""

    split_s: float = 0.0
    put_s: float = 0.0
    swap_s: float = 0.0
    transfer_s: float = 0.0
    join_s: float = 0.0
    tasks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **seconds: float) -> None:
        with self._lock:
            for name, value in seconds.items():
                setattr(self, name, getattr(self, name) + value)

    def task(self, wall_s: float, swap_s: float) -> None:
        with self._lock:
            self.tasks += 1
            self.swap_s += swap_s
            self.transfer_s += max(0.0, wall_s - swap_s)
