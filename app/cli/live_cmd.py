"""`swapcast live` (placeholder until implemented)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("live", help="(not yet implemented)")
    parser.set_defaults(handler=lambda args: 1)
