"""The --models DIR option, shared by every front end that loads models: the CLI's subcommands, the
job options (app/jobs/cli_options, also used by the studio's add-job dialog) and `swapcast gui`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.paths import MODELS_ENV


def add_models_option(parser: argparse.ArgumentParser) -> None:
    """Adds --models DIR (every CLI parser already has it, from app.cli.common; then this does nothing)."""
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


def models_folder(models: str | Path | None) -> Path | None:
    """The models folder asked for: a command's --models DIR (or a job's `models`) wins over
    SWAPCAST_MODELS; None means 'use the catalog'. The one rule for the CLI, jobs and the engine cache."""
    value = models or os.environ.get(MODELS_ENV)
    return Path(value) if value else None


def models_override(args: argparse.Namespace) -> Path | None:
    """models_folder() of parsed options."""
    return models_folder(getattr(args, "models", None))


@contextmanager
def models_in_environment(args: argparse.Namespace) -> Iterator[None]:
    """While a command runs, --models DIR is SWAPCAST_MODELS=DIR: every layer that honours the
    variable (the engine cache the worker and `engines` use) honours the option the same way."""
    value = getattr(args, "models", None)
    if value is None:
        yield
        return
    with models_folder_set(Path(value)):
        yield


@contextmanager
def models_folder_set(folder: Path) -> Iterator[None]:
    """SWAPCAST_MODELS=folder for the length of a `with`, then as it was."""
    before = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MODELS_ENV, None)
        else:
            os.environ[MODELS_ENV] = before
