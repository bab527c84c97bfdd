"""What a failure inside the built-in engine means for a job: retry it, stop it, or try another engine.

- SwapCastError: already says what it is.
- Out of memory (MemoryError; an onnxruntime or OpenCV allocation failure), a busy file: TransientError,
  the queue retries later.
- The output cannot be written (disk full, read-only or forbidden folder, file too large): OutputError,
  the job fails once with that line; another engine would write to the same place.
- Anything else (an onnxruntime INVALID_ARGUMENT, a model that cannot load, a crash in our code):
  None, the caller re-raises it and the manager hands the target to the next engine.

onnxruntime raises one exception type per status code (onnxruntime_pybind11_state: Fail,
RuntimeException, InvalidArgument, NoSuchFile, EPFail, ...), but an allocation failure has no code of
its own: the CPU arena and the CUDA allocator both report it as FAIL / RUNTIME_EXCEPTION / EP_FAIL
with "Failed to allocate memory ..." or "CUDA failure 2: out of memory" in the text. So the type
decides first (the codes that mean a bad model or bad input are never retried), and only for those
catch-all codes is the message searched, as a last resort, for the markers below.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from engines.errors import OutputError, SwapCastError, TransientError

ORT_STATE_MODULE = "onnxruntime.capi.onnxruntime_pybind11_state"
# Status codes whose exception can be an allocation failure: the message decides.
ORT_CATCH_ALL = frozenset({"Fail", "RuntimeException", "EPFail", "EngineError"})
# A DirectML device removed / reset: a new session on a fresh device may work.
ORT_TRANSIENT = frozenset({"DeviceReset"})
# Last resort, lower-case substrings of onnxruntime's catch-all messages that mean "out of memory".
TRANSIENT_MARKERS = ("failed to allocate", "out of memory", "cudaerrormemoryallocation", "alloc_failed")
CV_NO_MEMORY = -4  # cv::Error::StsNoMem ("Insufficient memory")

FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
UNWRITABLE = frozenset({errno.EROFS})
FORBIDDEN = frozenset({errno.EACCES, errno.EPERM})
BUSY = frozenset({errno.EBUSY, errno.EAGAIN})


def classify(error: BaseException, output: Path | None = None) -> SwapCastError | None:
    """The job-level error `error` amounts to, or None for "this engine failed" (see the module doc).

    `output`: the file being written, so a permission error on it (not on a model) reads as one."""
    if isinstance(error, SwapCastError):
        # A plain SwapCastError that only wraps an OSError ("writing the video failed"): the errno says more.
        if type(error) is SwapCastError and isinstance(error.__cause__, OSError):
            return _os_error(error.__cause__, output) or error
        return error
    if isinstance(error, MemoryError):
        return TransientError("temporarily out of memory", "the job will be retried")
    if isinstance(error, OSError):
        return _os_error(error, output)
    if _ort_name(error) in ORT_TRANSIENT or (_ort_name(error) in ORT_CATCH_ALL and _says_out_of_memory(error)):
        return TransientError(f"temporarily out of resources: {_first_line(error)}", "the job will be retried")
    if type(error).__module__ == "cv2" and getattr(error, "code", None) == CV_NO_MEMORY:
        return TransientError(f"temporarily out of memory: {_first_line(error)}", "the job will be retried")
    return None


def _os_error(error: OSError, output: Path | None) -> SwapCastError | None:
    where = Path(error.filename) if isinstance(error.filename, str) else output
    folder = where.parent if where is not None else None
    if error.errno in FULL:
        return OutputError(f"cannot write {where or 'the output'}: {error.strerror or 'disk full'}",
                           f"free some space on the disk of {folder}, or choose another -o" if folder else
                           "free some disk space, or choose another -o")
    if error.errno in UNWRITABLE or (error.errno in FORBIDDEN and _is_output(where, output)):
        return OutputError(f"cannot write {where or 'the output'}: {error.strerror}",
                           "choose an output folder you can write to")
    if error.errno in BUSY:
        return TransientError(f"a file is busy: {error}", "the job will be retried")
    return None


def _is_output(path: Path | None, output: Path | None) -> bool:
    if path is None or output is None:
        return False
    # the output, its temp file beside it, or a folder on the way to it (mkdir)
    return path == output or path.parent == output.parent or path in output.parents


def _ort_name(error: BaseException) -> str | None:
    module = sys.modules.get(ORT_STATE_MODULE)
    if module is None:
        return None  # onnxruntime never loaded: the error cannot be one of its own
    cls = getattr(module, type(error).__name__, None)
    return type(error).__name__ if isinstance(cls, type) and isinstance(error, cls) else None


def _says_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__
