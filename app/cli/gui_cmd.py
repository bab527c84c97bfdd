"""`swapcast gui` (also what plain `swapcast` runs): open the studio window."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the studio window (the default)")
    parser.set_defaults(handler=open_gui)


def open_gui(args: argparse.Namespace) -> int:
    # Qt is imported only under app/gui/, and only when a window is wanted.
    from app.gui.launch import run_gui

    return run_gui(args)
