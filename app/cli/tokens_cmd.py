"""`swapcast tokens create|list|revoke`: the API's bearer tokens (in the settings folder, owner-only).

The file keeps each token's SHA-256, never the token: `create` prints the token once.
"""

from __future__ import annotations

import argparse
import json
import time

from app.server.roles import Role
from app.server.tokens import TokenStore

from .common import CommandParser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokens", help="create, list and revoke the API's tokens (`swapcast serve`)",
        description="Tokens for `swapcast serve`: viewer (read-only: status, jobs, events), operator (+ jobs and "
                    "live control), admin (everything). Kept as digests in tokens.json in the settings folder "
                    "(owner-only); a running server sees changes at once.")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True,
                                    parser_class=CommandParser)
    create = actions.add_parser("create", help="make a token and print it (once)")
    create.add_argument("--role", type=_role, required=True, metavar="ROLE",
                        help="viewer | operator | admin")
    create.add_argument("--label", default="", metavar="TEXT", help="what it is for (shown by `tokens list`)")
    create.set_defaults(handler=run_create)
    listing = actions.add_parser("list", help="list the tokens (id, role, created, label; never the token)")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(handler=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (it stops working at once)")
    revoke.add_argument("id", help="the token's id, from `swapcast tokens list`")
    revoke.set_defaults(handler=run_revoke)


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_create(args: argparse.Namespace) -> int:
    record, token = TokenStore().create(args.role, args.label)
    print(f"{record.role.value} token {record.id} (shown once — keep it):")
    print(token)
    return 0


def run_list(args: argparse.Namespace) -> int:
    store = TokenStore()
    records = store.records()
    if args.json:
        print(json.dumps({"file": str(store.path), "tokens": [
            {"id": r.id, "role": r.role.value, "created_at": r.created_at, "label": r.label} for r in records]},
            indent=2))
        return 0
    if not records:
        print(f"no tokens in {store.path} — `swapcast tokens create --role ROLE` makes one")
        return 0
    rows = [("ID", "ROLE", "CREATED", "LABEL")]
    rows += [(r.id, r.role.value, time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)), r.label)
             for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    record = TokenStore().revoke(args.id)  # InputError (no such id) → one line, exit 2
    print(f"revoked {record.role.value} token {record.id}" + (f" ({record.label})" if record.label else ""))
    return 0
