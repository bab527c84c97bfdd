"""What travels between the submitting machine and a swap actor: plain, picklable values.

Paths never travel (no shared filesystem): a task names its files, and their bytes go through Ray's
object store; the actor writes them into its own temp folder. Errors come back as values (a Failure),
so their kind — retry, fail the job, fail every target — survives the trip whatever Ray does with
exception classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from engines.errors import InputError, OutputError, SwapCastError, TransientError
from engines.external.errors import SourceError

from app.jobs.model import JobSpec


class FailureKind(str, Enum):
    TRANSIENT = "transient"  # retried by the queue with back-off
    SOURCE = "source"  # the source face: every target fails
    OUTPUT = "output"  # the output cannot be written
    INPUT = "input"  # this target cannot be swapped
    INTERNAL = "internal"  # a bug: "internal error: …"


_KINDS: tuple[tuple[type[SwapCastError], FailureKind], ...] = (
    (TransientError, FailureKind.TRANSIENT),
    (SourceError, FailureKind.SOURCE),
    (OutputError, FailureKind.OUTPUT),
)
_ERRORS: dict[FailureKind, type[SwapCastError]] = {
    FailureKind.TRANSIENT: TransientError, FailureKind.SOURCE: SourceError, FailureKind.OUTPUT: OutputError,
    FailureKind.INPUT: InputError, FailureKind.INTERNAL: InputError,
}


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str  # one line

    @classmethod
    def of(cls, error: BaseException, paths: dict[str, str]) -> Failure:
        """`paths`: the actor's file paths → the user's names for them, replaced in the message."""
        if isinstance(error, SwapCastError):
            kind = next((kind for base, kind in _KINDS if isinstance(error, base)), FailureKind.INPUT)
            message = error.one_line()
        else:
            kind, message = FailureKind.INTERNAL, f"internal error: {type(error).__name__}: {error}"
        return cls(kind, user_text(message, paths))

    def error(self) -> SwapCastError:
        """The error to raise on the submitting machine: the worker settles the job by its class."""
        return _ERRORS[self.kind](self.message)


def user_text(text: str, names: dict[str, str]) -> str:
    """`text` with the actor's paths and file names (longest first) replaced by the user's."""
    for local, known in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(local, known)
    return text


@dataclass(frozen=True)
class SwapTask:
    """One unit of work for an actor: a whole image or video, or one segment of a long video.

    `spec` is the job's spec with file NAMES: sources/reference as keys of the job's shared inputs,
    one target (the bytes passed beside the task) and an output name."""

    key: str  # unique within the job, e.g. "0/seg_00003.mkv": progress and results are kept by it
    job_id: int
    spec: JobSpec
    # Each file name of the spec → what the user knows it as (a path on the submitting machine), so
    # an error says "no face in /photos/me.png", not the actor's temp folder.
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskOutcome:
    key: str
    data: bytes | None = None  # the encoded output
    frames: int = 0
    warnings: list[str] = field(default_factory=list)
    failure: Failure | None = None
    cancelled: bool = False
    swap_s: float = 0.0  # decode + swap + encode on the actor
    io_s: float = 0.0  # writing the inputs and reading the output on the actor
    actor: str = ""  # host:pid, for the log and the benchmark
