"""`swapcast storage list | test NAME`: the storage profiles of storage.json, and a check that one works.

`test` writes a small object, reads it back and deletes it, and says in one line what failed: an
unknown bucket, denied credentials, an unreachable endpoint, a clock too far off. Credentials are
never printed: only where they come from.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from app.storage.object_target import ObjectTarget, resolve_output
from app.storage.profiles import load_profiles, storage_path
from app.storage.readback import delete_object, read_object
from app.storage.upload import upload_object
from engines.errors import SwapCastError

from .common import CommandParser, fail

TEST_PAYLOAD_BYTES = 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "storage", help="list the storage profiles (storage.json) and test one",
        description="Storage profiles name where outputs are uploaded (`-o NAME:key`) and inputs read from: "
                    "kind (s3, r2, gcs, local), bucket, prefix, endpoint, region, presign expiry. Kept in "
                    "storage.json in the settings folder; credentials come only from the provider's standard "
                    "environment variables or credential files (docs/STORAGE.md).")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True,
                                    parser_class=CommandParser)
    listing = actions.add_parser("list", help="list the profiles (never a credential)")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(handler=run_list)
    test = actions.add_parser("test", help="write, read back and delete a small object through a profile")
    test.add_argument("name", help="a profile's name (or an s3://bucket/prefix/ URI)")
    test.set_defaults(handler=run_test)


def run_list(args: argparse.Namespace) -> int:
    path = storage_path()
    profiles = load_profiles(path)  # StorageConfigError → one line, exit 2
    if args.json:
        print(json.dumps({"file": str(path), "profiles": [p.public_dict() for p in profiles.values()]}, indent=2))
        return 0
    if not profiles:
        print(f"no storage profiles in {path} — s3:// URIs still work from the AWS environment (docs/STORAGE.md)")
        return 0
    rows = [("NAME", "KIND", "WHERE", "ENDPOINT", "PRESIGN", "CREDENTIALS")]
    for profile in profiles.values():
        where = str(profile.path / profile.prefix) if profile.path else f"{profile.bucket}/{profile.prefix}"
        presign = f"{profile.presign_expiry_s}s" if profile.presign_expiry_s else "-"
        rows.append((profile.name, profile.kind.value, where, profile.resolved_endpoint() or "-", presign,
                     profile.describe_credentials()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _test_uri(name: str, key: str) -> str:
    if "://" in name:
        return name.rstrip("/") + "/" + key
    return f"{name}:{key}"


def run_test(args: argparse.Namespace) -> int:
    name: str = args.name
    key = f".swapcast-storage-test-{uuid.uuid4().hex[:12]}.txt"
    payload = os.urandom(TEST_PAYLOAD_BYTES // 2).hex().encode()
    started = time.monotonic()
    step = "checking"
    try:
        target: ObjectTarget = resolve_output(_test_uri(name, key))
        step = "writing"
        with TemporaryDirectory(prefix="swapcast-storage-test-") as folder:
            local = Path(folder) / "probe.txt"
            local.write_bytes(payload)
            upload_object(local, target.uri)
        step = "reading back"
        if read_object(target) != payload:
            return fail(f"storage {name}: failed reading back: the object read back differs from what was written "
                        f"({target.address}) — the store is not keeping what it is sent", 1)
        step = "deleting"
        delete_object(target)
    except SwapCastError as error:
        return fail(f"storage {name}: failed {step}: {error.one_line()}", 1)
    took = time.monotonic() - started
    print(f"storage {name}: ok — wrote, read back and deleted {TEST_PAYLOAD_BYTES} bytes at "
          f"{target.address} in {took:.1f} s")
    return 0
