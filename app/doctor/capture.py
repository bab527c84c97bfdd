"""Captures what native libraries (onnxruntime, FFmpeg encoders) write to file descriptor 2.

Their reasons for failing ("libcublasLt.so.12: cannot open shared object file") go to the C stderr,
not to a Python exception; the doctor needs those words. One capture at a time, process-wide.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


class Captured:
    text: str = ""


@contextmanager
def captured_stderr() -> Iterator[Captured]:
    result = Captured()
    with _lock, tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (pythonw on Windows): nothing to capture
            yield result
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield result
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            result.text = sink.read().decode(errors="replace")
