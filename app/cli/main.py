"""Entry point of the `swapcast` console script.

With no subcommand it opens the GUI. Each subcommand lives in its own module and exposes
`register(subparsers)`, which adds its parser and sets `handler` to a function(args) -> int.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from app import __version__, consent
from app.models_option import models_in_environment
from app.paths import keep_library_caches_under_home
from engines.errors import SwapCastError

from .common import CommandParser, fail

# Order is the order `--help` lists them in.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "app.cli.gui_cmd",
    "app.cli.models_cmd",
    "app.cli.live_cmd",
    "app.cli.cameras_cmd",
    "app.cli.swap_cmd",
    "app.cli.lipsync_cmd",
    "app.cli.jobs_cmd",
    "app.cli.worker_cmd",
    "app.cli.serve_cmd",
    "app.cli.tokens_cmd",
    "app.cli.storage_cmd",
    "app.cli.engines_cmd",
    "app.cli.doctor_cmd",
    "app.cli.benchmark_cmd",
    "app.cli.notice_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="swapcast",
        description="SwapCast: realtime face swap to a virtual camera, and offline image/video swaps.",
    )
    parser.add_argument("--version", action="version", version=f"swapcast {__version__}")
    # CommandParser: every subcommand's parser (and theirs) accepts --models DIR too.
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                       parser_class=CommandParser)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from .gui_cmd import open_gui

        return open_gui(args)
    if getattr(args, "needs_consent", False) and not consent.ensure_accepted_on_cli():
        return fail("the responsible-use notice above has not been accepted — run `swapcast notice --accept` "
                    f"(or set {consent.ACCEPT_ENV}=1 for automation)")
    try:
        with models_in_environment(args):
            return int(args.handler(args) or 0)
    except SwapCastError as error:
        return fail(error.one_line(), error.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


def entry() -> int:
    """The console script: sets up the process (not main(), which tests call in-process), then runs."""
    keep_library_caches_under_home()
    return main()


if __name__ == "__main__":
    sys.exit(entry())
