"""`swapcast notice [--accept]`: show (and accept) the responsible-use notice."""

from __future__ import annotations

import argparse

from app import consent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("notice", help="show the responsible-use notice (--accept to accept it)")
    parser.add_argument("--accept", action="store_true", help="accept it (needed once before swapping)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(consent.notice_text())
    if args.accept:
        consent.accept()
        print("\naccepted")
    else:
        print("\n" + ("accepted" if consent.accepted() else "not accepted yet: run `swapcast notice --accept`"))
    return 0
