"""Pieces every subcommand shares: one-line errors and warnings (--models is app/models_option.py)."""

from __future__ import annotations

import sys


def fail(message: str, code: int = 2) -> int:
    print(f"swapcast: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"swapcast: warning: {message}", file=sys.stderr)
