"""The --models DIR option, shared by every front end that loads models: the CLI's subcommands, the
job options (app/jobs/cli_options, also used by the studio's add-job dialog) and `swapcast gui`."""

from __future__ import annotations

import argparse
import os
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
