"""`swapcast jobs`: queue offline swaps; list, show, watch, cancel, retry and remove jobs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from app.jobs.admission import check_runnable
from app.jobs.cli_options import add_swap_options, spec_from_args
from app.jobs.console import JobProgressView, format_eta
from app.jobs.errors import brief
from app.jobs.events import watch
from app.jobs.model import Job, JobState
from app.jobs.store import JobStore
from app.paths import user_paths


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="queue offline swaps; list, show, watch, cancel, retry and remove jobs",
        description="The offline job queue. Jobs survive quits and crashes; `swapcast worker` runs them.",
    )
    parser.set_defaults(handler=lambda args: _usage(parser))
    commands = parser.add_subparsers(title="jobs commands", dest="jobs_command", metavar="ACTION")

    add = commands.add_parser(
        "add", help="queue a swap (sources, targets, output)", description="Queue a swap; `swapcast worker` runs it."
    )
    add_swap_options(add)
    add.add_argument("--json", action="store_true", help="print the new job as JSON")
    add.set_defaults(handler=cmd_add, needs_consent=True)

    listing = commands.add_parser("list", help="show every job and its progress")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    listing.add_argument(
        "-v", "--verbose", action="store_true", help="whole errors in the NOTE column (default: a short line)"
    )
    listing.add_argument(
        "--state", action="append", choices=[s.value.lower() for s in JobState], type=str.lower,
        help="only jobs in this state (repeatable)",
    )
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser("show", help="everything about one job")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=cmd_show)

    follow = commands.add_parser("watch", help="follow a job's progress until it ends (its worker may be elsewhere)")
    follow.add_argument("id", type=int, metavar="ID")
    follow.set_defaults(handler=cmd_watch)

    actions = {}
    for name, handler, text in (
        ("cancel", cmd_cancel, "cancel a pending job, or stop a running one"),
        ("retry", cmd_retry, "run a failed, cancelled or completed job again"),
        ("rm", cmd_rm, "remove a job that is not running"),
    ):
        actions[name] = commands.add_parser(name, help=text)
        actions[name].add_argument("id", type=int, metavar="ID")
        actions[name].set_defaults(handler=handler)
    actions["retry"].add_argument(
        "--overwrite", action="store_true", default=None,
        help="replace the output if it exists (re-running a completed job needs this)",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def open_store() -> JobStore:
    return JobStore(user_paths().jobs_db)


# --- add --------------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)  # InputError → one line, exit 2 (before anything is queued)
    check_runnable(spec)  # a job that could never run is refused now, not failed later
    if spec.lip_sync is not None:
        from app.offline.lipsync_checks import check_lip_sync_photos  # loads the engine: lip sync of a photo only

        check_lip_sync_photos(spec)
    with open_store() as store:
        job = store.add(spec)
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
    else:
        count = len(spec.targets)
        print(f"job {job.id} added ({count} target{'s' if count != 1 else ''}); run it with `swapcast worker`")
    return 0


# --- list / show ------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    states = [JobState(s.upper()) for s in args.state] if args.state else None
    with open_store() as store:
        jobs = store.list(states)
    if args.json:
        print(json.dumps([job.to_dict() for job in jobs], indent=2))
        return 0
    if not jobs:
        print("no jobs" + ("" if states else "; add one with `swapcast jobs add`"))
        return 0
    rows = [("ID", "STATE", "PROGRESS", "FPS", "ETA", "TARGET", "OUTPUT", "NOTE")]
    for job in jobs:
        rows.append((
            str(job.id),
            job.state.value,
            _progress_cell(job),
            f"{job.fps:.1f}" if job.fps and job.state is JobState.PROCESSING else "-",
            format_eta(job.eta_s) if job.state is JobState.PROCESSING else "-",
            _targets_cell(job),
            Path(job.output or job.spec.output).name,
            _note(job, args.verbose),
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _progress_cell(job: Job) -> str:
    if job.state is JobState.COMPLETED:
        return "100%"
    segments = f", segments {job.segments.done}/{job.segments.total}" if job.segments else ""
    if job.progress.total > 0:
        return f"{job.fraction * 100:.0f}% ({job.progress.done}/{job.progress.total}{segments})"
    return "-"


def _targets_cell(job: Job) -> str:
    targets = job.spec.targets
    first = Path(targets[0]).name if targets else "-"
    return first + (f" +{len(targets) - 1}" if len(targets) > 1 else "")


def _note(job: Job, verbose: bool = False) -> str:
    if job.state is JobState.PROCESSING and job.cancel_requested:
        return "cancel requested"
    error = job.error
    if error and not verbose and brief(error) != error:
        error = f"{brief(error)} (details: `swapcast jobs show {job.id}`)"
    if job.state is JobState.PENDING and error:
        wait = job.next_attempt_at - time.time()
        when = f" in {format_eta(wait)}" if wait > 0 else ""
        return f"retry{when} (attempt {job.attempts + 1} of {job.max_attempts}): {error}"
    if error:
        return error
    if job.warnings:
        return f"{len(job.warnings)} warning{'s' if len(job.warnings) != 1 else ''}"
    return ""


def cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        job = store.get(args.id)  # unknown id → JobNotFound, one line, exit 2
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
        return 0
    spec = job.spec
    lines = [f"job {job.id}: {job.state.value}" + (" (cancel requested)" if job.cancel_requested else "")]

    def field(name: str, value: object) -> None:
        lines.append(f"  {name:<11}{value}")

    field("progress", f"{_progress_cell(job)}, {job.fps:.1f} fps, ETA {format_eta(job.eta_s)}" if job.fps else _progress_cell(job))
    for source in spec.sources:
        field("source", source)
    for target in spec.targets:
        field("target", target)
    field("output", job.output or spec.output)
    options = [
        f"faces={spec.faces}",
        f"enhance={'yes' if spec.enhance else 'no'}",
        f"encoder={spec.encoder}",
        f"audio={'yes' if spec.audio else 'no'}",
        f"overwrite={'yes' if spec.overwrite else 'no'}",
    ]
    if spec.allow_urls:
        options.append("allow-urls")
    if spec.keep_local:
        options.append("keep-local")
    if spec.reference:
        options.append(f"reference={spec.reference}")
    if spec.source_face is not None:
        options.append(f"source-face={spec.source_face}")
    if spec.trim:
        options.append(f"trim={spec.trim[0]:g}-{spec.trim[1]:g}s")
    if spec.quality is not None:
        options.append(f"quality={spec.quality}")
    if spec.models:
        options.append(f"models={spec.models}")
    if spec.lip_sync:
        options.append(f"lip-sync={spec.lip_sync} (weight {spec.lip_sync_weight:g}, fit {spec.fit}, photo {spec.still_fps:g} fps)")
    field("options", " ".join(options))
    field("attempts", f"{job.attempts} of {job.max_attempts}")
    field("created", _when(job.created_at))
    if job.started_at:
        field("started", _when(job.started_at))
    if job.finished_at:
        field("finished", _when(job.finished_at))
    if job.state is JobState.PENDING and job.next_attempt_at > time.time():
        field("next try", _when(job.next_attempt_at))
    if job.worker_id:
        field("worker", job.worker_id)
    if job.error:
        field("error", job.error)
    for warning in job.warnings:
        field("warning", warning)
    for stored in job.objects:  # uploaded outputs: where, and a link while it lasts (never credentials)
        field("object", f"{stored.uri} ({stored.size} bytes, sha256 {stored.sha256[:12]}…)")
        if stored.presigned_url:
            expiry = f" (expires {_when(stored.presigned_expires_at)})" if stored.presigned_expires_at else ""
            field("link", stored.presigned_url + expiry)
    print("\n".join(lines))
    return 0


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


# --- watch ------------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    view = JobProgressView()
    final: JobState | None = None
    with open_store() as store:
        try:
            for event in watch(store, args.id):
                view.handle(event)
                final = event.state
        finally:
            view.close()
    return 0 if final is JobState.COMPLETED else 1


# --- cancel / retry / rm ----------------------------------------------------------------------


def cmd_cancel(args: argparse.Namespace) -> int:
    with open_store() as store:
        job = store.cancel(args.id)
    if job.state is JobState.PROCESSING:
        print(f"job {job.id}: cancel requested; its worker stops at the next frame")
    else:
        print(f"job {job.id} cancelled")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with open_store() as store:
        before = store.get(args.id)
        job = store.retry(args.id, overwrite=args.overwrite)
    print(f"job {job.id} queued again; run it with `swapcast worker`")
    output = Path(before.output or job.spec.output)
    if before.state is JobState.COMPLETED and not job.spec.overwrite and output.is_file():
        print(f"note: {output} exists; without --overwrite the re-run will fail", file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    with open_store() as store:
        store.remove(args.id)
    print(f"job {args.id} removed")
    return 0
