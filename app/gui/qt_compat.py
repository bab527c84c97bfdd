"""Work around a reference-count bug in PySide6 6.12.0 on Python 3.11.

There, every `SignalInstance.emit()` (and `disconnect()`) called from Python hands back `True`
without owning a reference to it, so each call leaves Py_True one reference short. Python < 3.12
does not make True immortal: after a few thousand emits (a few minutes of 30 fps preview) its count
reaches zero and the interpreter aborts with "bool_dealloc: deallocating True or False".

`emit()` below emits and gives back what the call took, only as much as a probe at import time
measured, so a PySide6 without the bug (or a Python with immortal bools) costs nothing. All the
studio's own emits go through it. Signals Qt emits from C++ are not affected.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance


class _Probe(QObject):
    ping = Signal()


def _measure_loss(rounds: int = 16) -> int:
    """How many references to True one emit() loses (0 when PySide6 is fine)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(rounds):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    probe.deleteLater()
    return max(0, round(lost / rounds))


_LOST_PER_EMIT = _measure_loss()
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def _give_back(count: int) -> None:
    for _ in range(count):
        _incref(True)


def emit(signal: SignalInstance, *args: Any) -> None:
    """`signal.emit(*args)`, safe to call any number of times, from any thread."""
    signal.emit(*args)
    if _LOST_PER_EMIT:
        _give_back(_LOST_PER_EMIT)


def emit_bug_present() -> bool:
    return _LOST_PER_EMIT > 0
