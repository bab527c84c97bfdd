"""System readings feed the side panel every second: plausible numbers, no sleeping."""

from __future__ import annotations

import time

from app.monitor import SystemMonitor, read_system


def test_system_stats_are_plausible_and_cheap() -> None:
    monitor = SystemMonitor()
    started = time.perf_counter()
    monitor.read()
    stats = monitor.read()
    assert time.perf_counter() - started < 0.5  # never blocks to measure CPU
    assert 0 < stats.ram_used <= stats.ram_total
    assert stats.process_rss > 10 * 1024**2  # a Python with numpy loaded holds more than 10 MiB
    assert 0.0 <= stats.cpu_percent <= 100.0
    assert stats.cpu_count >= 1
    assert 0.0 < stats.ram_percent <= 100.0
    assert read_system().ram_total == stats.ram_total
