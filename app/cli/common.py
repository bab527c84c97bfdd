"""Pieces every subcommand shares: the --models option, one-line errors, progress bars."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.paths import MODELS_ENV


def add_models_option(parser: argparse.ArgumentParser) -> None:
    """Adds --models DIR (every CommandParser already has it; then this does nothing)."""
    if "--models" in parser._option_string_actions:
        return
    parser.add_argument(
        "--models",
        metavar="DIR",
        type=Path,
        # SUPPRESS: a subcommand without --models must not hide `swapcast --models DIR cmd`.
        default=argparse.SUPPRESS,
        help=f"use the models listed in DIR's manifest.json instead of the catalog's (or set {MODELS_ENV})",
    )


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


@contextmanager
def models_in_environment(args: argparse.Namespace) -> Iterator[None]:
    """While a command runs, --models DIR is SWAPCAST_MODELS=DIR: every layer that honours the
    variable (the engine cache the worker and `engines` use) honours the option the same way."""
    value = getattr(args, "models", None)
    if value is None:
        yield
        return
    before = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MODELS_ENV, None)
        else:
            os.environ[MODELS_ENV] = before


def models_override(args: argparse.Namespace) -> Path | None:
    """--models DIR wins over SWAPCAST_MODELS; None means 'use the catalog'."""
    value = getattr(args, "models", None)
    if value is not None:
        return Path(value)
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else None


def fail(message: str, code: int = 2) -> int:
    print(f"swapcast: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"swapcast: warning: {message}", file=sys.stderr)
