"""The slow part of a control (recognising new source photos, loading the enhancer) runs here, off
the caller's thread (the GUI's) and off the frame path, so frames keep flowing meanwhile."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class SideTasks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                return  # the session is shutting down: nothing is left to apply it to
            if self._pool is None:
                # One worker: control tasks run in the order they were asked for.
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-control")
            self._pool.submit(self._guarded, fn)

    @staticmethod
    def _guarded(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 — tasks report their own failures; this only keeps the log
            log.exception("live control task failed")

    def shutdown(self) -> None:
        """Drop tasks not yet started; one already running finishes by itself (never waited for)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
