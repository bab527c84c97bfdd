"""`swapcast models`: list, download, verify and locate model files; write the test-model kit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.models_option import models_override
from app.paths import user_paths
from engines.errors import ModelError, SwapCastError
from engines.models import ModelSpec, ModelStatus, ModelStore

from .common import fail, warn


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download and verify model files",
        description="Model files: the catalog's real models, or a folder given with --models DIR.",
    )
    parser.set_defaults(handler=lambda args: _usage(parser))
    commands = parser.add_subparsers(title="models commands", dest="models_command", metavar="ACTION")

    listing = commands.add_parser("list", help="show every model, whether its file is present and verified")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    listing.set_defaults(handler=cmd_list)

    download = commands.add_parser("download", help="download model files (resumable, hash-checked)")
    download.add_argument("ids", nargs="*", metavar="ID", help="model ids (see `swapcast models list`)")
    download.add_argument("--all", action="store_true", help="download every model in the catalog")
    download.add_argument("-v", "--verbose", action="store_true",
                          help="on failure, also list every URL tried and why it failed")
    download.set_defaults(handler=cmd_download)

    verify = commands.add_parser("verify", help="re-check model files against their sha256")
    verify.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: every model; missing optional ones are only listed)")
    verify.set_defaults(handler=cmd_verify)

    path = commands.add_parser("path", help="print the models folder, or the file path of one model")
    path.add_argument("id", nargs="?", metavar="ID")
    path.set_defaults(handler=cmd_path)

    kit = commands.add_parser("kit", help="write tiny generated models (same contracts) into DIR, for tests and demos")
    kit.add_argument("dir", metavar="DIR", type=Path)
    kit.add_argument("--samples", action="store_true", help="also write sample images")
    kit.add_argument("--timing", action="store_true", help="also write architecture-class models for timing")
    kit.set_defaults(handler=cmd_kit)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def open_store(args: argparse.Namespace) -> ModelStore:
    """The catalog in the user's models folder, or the manifest folder from --models / SWAPCAST_MODELS."""
    return ModelStore.resolve(user_paths().models, models_override(args), warn=warn)


# --- list -------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    statuses = [store.status(spec.id) for spec in store.specs()]
    if args.json:
        print(json.dumps([{**_status_json(status), "hash_policy": store.hash_policy(status.spec.id)}
                          for status in statuses], indent=2))
        return 0
    rows = [("ID", "ROLE", "FILE", "PRESENT", "VERIFIED", "SIZE", "LICENCE")]
    for status in statuses:
        spec = status.spec
        rows.append((
            spec.id + (" *" if spec.default else ""),
            spec.role,
            spec.file,
            "yes" if status.present else "no",
            "yes" if status.verified else ("FAILED" if status.present else "-"),
            _human_size(_file_size(status) or spec.size),
            _short_licence(spec.license),
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"\n* default of its role   models folder: {store.directory}")
    for status in statuses:
        if not status.spec.pinned:
            print(f"{status.spec.id}: {store.hash_policy(status.spec.id)}")
    for status in statuses:
        if status.present and not status.verified:
            print(f"{status.spec.id}: {status.problem}")
    return 0


def _status_json(status: ModelStatus) -> dict[str, Any]:
    spec = status.spec
    return {
        "id": spec.id,
        "role": spec.role,
        "file": spec.file,
        "path": str(status.path),
        "present": status.present,
        "verified": status.verified,
        "problem": status.problem,
        "size": _file_size(status) if status.present else spec.size,
        "sha256": spec.sha256,
        "license": spec.license,
        "default": spec.default,
        "urls": list(spec.all_urls),
        "description": spec.description,
    }


def _file_size(status: ModelStatus) -> int | None:
    try:
        return status.path.stat().st_size if status.present else None
    except OSError:
        return None


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _short_licence(text: str) -> str:
    # Catalog licences lead with the terms, then explain after a colon.
    short = text.split(":", 1)[0].strip() or "?"
    return short if len(short) <= 40 else short[:39] + "…"


# --- download ---------------------------------------------------------------------------------


def cmd_download(args: argparse.Namespace) -> int:
    store = open_store(args)
    specs = _selected(store, args.ids, args.all)
    if not specs:
        raise ModelError("name the models to download", "e.g. `swapcast models download inswapper_128`, or use --all")
    failures: list[tuple[ModelSpec, SwapCastError]] = []
    for spec in specs:
        before = store.status(spec.id)
        if before.verified:
            print(f"{spec.id}: already present and verified ({before.path})")
            continue
        try:
            path = _download_with_bar(store, spec)
        except SwapCastError as error:
            failures.append((spec, error))  # said after the others were tried, under one summary line
            continue
        print(f"{spec.id}: saved and verified {path}")
    _report_failures(failures, len(specs), store.directory, args)
    return failures[0][1].exit_code if failures else 0


def _report_failures(failures: list[tuple[ModelSpec, SwapCastError]], asked: int, directory: Path,
                     args: argparse.Namespace) -> None:
    """One line per model (what failed, its URL, the folder); several failures get one summary line
    first — what failed and the one fix — and every URL tried is there on demand (--verbose)."""
    if len(failures) > 1:
        again = "--all" if args.all else " ".join(spec.id for spec, _ in failures)
        fail(f"{len(failures)} of {asked} models were not downloaded — run `swapcast models download {again}` "
             f"again once online, or put the files into {directory} by hand (the URL of each is in its line below)")
    hidden_details = False
    for _spec, error in failures:
        fail(error.one_line(), error.exit_code)  # the message already names the model
        details = getattr(error, "details", ())
        if args.verbose:
            for line in details:
                print(f"    {line}", file=sys.stderr)
        hidden_details = hidden_details or bool(details)
    if hidden_details and not args.verbose:
        print("swapcast: every URL tried and why it failed: add --verbose", file=sys.stderr)


def _download_with_bar(store: ModelStore, spec: ModelSpec) -> Path:
    from tqdm import tqdm

    bars: list[Any] = []

    def progress(done: int, total: int | None) -> None:
        if not bars:
            # Made on the first report, i.e. once a server answered: offline, no empty bar is drawn.
            bars.append(tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.id,
                file=sys.stderr, dynamic_ncols=True, mininterval=0.25,
            ))
        bar = bars[0]
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # negative when a source restarts from zero

    try:
        return store.download(spec.id, progress=progress)
    finally:
        for bar in bars:
            bar.close()


def _selected(store: ModelStore, ids: list[str], everything: bool) -> list[ModelSpec]:
    if everything:
        return store.specs()
    return [store.spec(model_id) for model_id in dict.fromkeys(ids)]  # unknown id → one-line error


# --- verify -----------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    store = open_store(args)
    explicit = bool(args.ids)
    specs = _selected(store, args.ids, everything=not explicit)
    code = 0
    for spec in specs:
        status = store.status(spec.id, fresh=True)  # a real re-read: the cache cannot see bit rot
        if status.verified:
            print(f"{spec.id}: ok ({status.path})")
        elif not status.present and not explicit and not spec.default:
            print(f"{spec.id}: not downloaded (optional)")
        else:
            try:
                store.require(spec.id)
            except ModelError as error:
                code = fail(error.one_line(), error.exit_code)
    return code


# --- path -------------------------------------------------------------------------------------


def cmd_path(args: argparse.Namespace) -> int:
    store = open_store(args)
    print(store.path(args.id) if args.id else store.directory)
    return 0


# --- kit --------------------------------------------------------------------------------------


def cmd_kit(args: argparse.Namespace) -> int:
    try:
        # Imported here: the kit pulls in onnx and numpy, which no other models command needs.
        from engines.testing.kit import write_kit
    except ImportError as error:
        raise ModelError(f"the test-model kit is not available in this install ({error})") from None
    directory = Path(args.dir).expanduser().resolve()
    write_kit(directory, samples=args.samples, timing=args.timing)
    manifest = directory / "manifest.json"
    print(f"wrote the test-model kit: {manifest}")
    print(f"use it with: swapcast --models {directory} ...   (or set SWAPCAST_MODELS={directory})")
    return 0
