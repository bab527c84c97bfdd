"""Errors a user can act on. Each carries a one-line message naming the problem and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class SwapCastError(Exception):
    """Base for every error the CLI prints as one line (no traceback) and exits non-zero on."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem


class ModelError(SwapCastError):
    """A model file is missing, corrupt, or cannot be downloaded."""


class DownloadError(ModelError):
    """A download failed (offline, blocked host, bad hash). `details`: every URL tried and why it
    failed — shown on demand (`--verbose`), not in the one line."""

    def __init__(self, problem: str, fix: str | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(problem, fix)
        self.details = tuple(details)


class DownloadCancelled(DownloadError):
    """The user stopped a download; the partial file stays for a later resume."""


class InputError(SwapCastError):
    """A source or target file the user gave cannot be used."""


class OutputError(InputError):
    """The output cannot be written (disk full, a folder nobody can write to, a format that does not
    fit the target): no engine and no retry can fix it, so the job fails once with this line."""


class TransientError(SwapCastError):
    """Worth retrying: GPU out of memory, a busy file, a timed-out engine."""

    exit_code = 75  # EX_TEMPFAIL
