"""Pieces every subcommand shares: the --models option, one-line errors, progress bars."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.paths import MODELS_ENV


def add_models_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        metavar="DIR",
        type=Path,
        # SUPPRESS: a subcommand without --models must not hide `swapcast --models DIR cmd`.
        default=argparse.SUPPRESS,
        help=f"use the models listed in DIR's manifest.json instead of the catalog's (or set {MODELS_ENV})",
    )


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
