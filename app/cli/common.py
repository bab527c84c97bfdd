"""Pieces every subcommand shares: one-line errors and warnings (--models is app/models_option.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.models_option import add_models_option


def _models_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_models_option(parent)
    return parent


# The one parent parser every command and subcommand parser is built on.
MODELS_PARENT = _models_parent()


class CommandParser(argparse.ArgumentParser):
    """The parser of `swapcast` and of every (sub)command under it: each accepts --models DIR, so
    `swapcast --models DIR X` and `swapcast X --models DIR` both work, at any depth (`jobs list`).
    Nested subparsers inherit this class: argparse builds them with type(parent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parents"] = [*kwargs.get("parents", ()), MODELS_PARENT]
        super().__init__(*args, **kwargs)


def fail(message: str, code: int = 2) -> int:
    print(f"swapcast: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"swapcast: warning: {message}", file=sys.stderr)
