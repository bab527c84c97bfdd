"""Errors as the studio shows them: one line first (what failed and the one fix), the whole text on
demand (a tooltip, the health panel). Long errors name URLs and folders; cut at a widget's edge they
end mid-URL, so the short line is made here, from the error's parts, never by cutting."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Brief:
    headline: str  # what failed, in the error's own words
    fix: str  # the one thing to do ("" when there is none to give)
    details: str  # the whole error, for a tooltip

    @property
    def line(self) -> str:
        return f"{self.headline} — {self.fix}" if self.fix else self.headline


def first_fix(fix: str) -> str:
    """The first of several alternatives ("run X, or download Y and put it into Z" → "run X")."""
    return fix.split(", or ", 1)[0].strip()


def brief(error: BaseException, fix: str | None = None) -> Brief:
    """One line for `error`; `fix` replaces the error's own fix (the studio's way to do it)."""
    problem = getattr(error, "problem", None)
    own_fix = getattr(error, "fix", None)
    details = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
    if not isinstance(problem, str):
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        own_fix = None
    chosen = fix if fix is not None else first_fix(own_fix) if isinstance(own_fix, str) and own_fix else ""
    return Brief(problem, chosen, details)


def brief_text(text: str) -> Brief:
    """The same for an error that arrives as text ("problem — fix" is the errors' one-line form)."""
    text = text.strip()
    first = text.splitlines()[0] if text else ""
    problem, _, fix = first.partition(" — ")
    return Brief(problem, first_fix(fix) if fix else "", text)
