"""Errors of the job queue the user can act on, and the control-flow signals of a running job."""

from __future__ import annotations

import re

from engines.errors import SwapCastError


class JobNotFound(SwapCastError):
    """No job has this id (never added, or removed)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}", "see `swapcast jobs list`")


class JobStateError(SwapCastError):
    """The action does not apply to the job's current state (e.g. removing a running job)."""


class JobStoreError(SwapCastError):
    """The jobs database cannot be used (newer schema, corrupt file)."""


# The signals below derive from BaseException on purpose: runner code written elsewhere may wrap
# its work in `except Exception`, and a cancel must get through such handlers to the worker the way
# KeyboardInterrupt does. `finally` blocks (closing files, encoders) still run.


class JobInterrupted(BaseException):
    """Raised from ProgressReporter.progress() to stop the runner; the worker settles the job."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} {self.reason}")

    reason = "interrupted"


class JobCancelled(JobInterrupted):
    """The user cancelled the job: it ends CANCELLED."""

    reason = "cancelled"


class JobReleased(JobInterrupted):
    """The worker is shutting down: the job goes back to PENDING without counting the attempt."""

    reason = "released (worker stopping)"


class LeaseLost(JobInterrupted):
    """Another worker recovered the job (our heartbeats stalled past the lease): drop it quietly."""

    reason = "lost its lease to another worker"


def brief(message: str, limit: int = 100) -> str:
    """One short line of a stored error: what failed and the first fix, for a table cell or a status bar.

    Errors are stored as SwapCastError.one_line() writes them, "problem — fix". Parenthesised
    details (each engine's reason, an exception's text), the fix's alternatives (", or …") and
    its further clauses ("; …") are dropped, and long paths keep their last two parts. If that is
    still too long the problem is cut between words, so the fix stays whole; nothing is cut inside
    a URL, a path or a `command`. The whole error stays in the job (`swapcast jobs show ID`).
    """
    problem, fix = _split_fix(message)
    problem, fix = _tidy(problem), _tidy(fix.split(", or ")[0].split("; ")[0])
    if not fix:
        return _cut(problem, limit)
    room = limit - len(fix) - 3
    if len(problem) > room:
        problem = _cut(problem, max(room, limit // 3))
    return _cut(f"{problem} — {fix}", limit)


def _cut(text: str, limit: int) -> str:
    """`text`, or its first whole words that fit with "…" (a `command` counts as one word)."""
    if len(text) <= limit:
        return text
    words = re.findall(r"`[^`]*`|\S+", text)
    kept: list[str] = []
    for word in words:
        if len(" ".join([*kept, word])) > limit - 1:
            break
        kept.append(word)
    return (" ".join(kept).rstrip(" —,;:") or text[: limit - 1]) + "…"


def _split_fix(message: str) -> tuple[str, str]:
    """"problem — fix" at the first dash outside brackets (an engine's reason may hold its own)."""
    depth = 0
    for index, char in enumerate(message):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth <= 0 and message.startswith(" — ", index):
            return message[:index], message[index + 3:]
    return message, ""


def _tidy(text: str) -> str:
    kept, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return " ".join(_short_path(word) for word in "".join(kept).split())


def _short_path(word: str) -> str:
    if "://" in word or word.count("/") < 3 or len(word) <= 30:
        return word
    return "…/" + "/".join(word.rstrip("/").split("/")[-2:])
