"""`swapcast swap`: queue one offline swap and run it here, with a progress bar; Ctrl-C cancels it.

It goes through the job queue like everything else, so the same job shows in `swapcast jobs list`
and in the GUI, survives a crash, and can be retried.
"""

from __future__ import annotations

import argparse

from app.jobs import worker as worker_module
from app.jobs.cli_options import add_swap_options, spec_from_args
from app.jobs.console import JobProgressView, run_in_foreground
from app.jobs.events import EventBus
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.paths import user_paths

from .common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "swap", help="swap faces in images and videos (runs through the job queue, waits for it)",
        description="Swap the face(s) of SOURCE into TARGET images/videos. The job is queued and run "
                    "here; Ctrl-C cancels it and leaves nothing half-written.")
    add_swap_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)  # one-line errors for missing files and bad options, before queueing
    bus = EventBus()
    with JobStore(user_paths().jobs_db, events=bus) as store, bus.subscribe(maxsize=1024) as events:
        job = store.add(spec)
        print(f"job {job.id} queued: {len(spec.targets)} target(s) → {spec.output}")
        executor = LocalExecutor(store, worker_module.default_runner_factory, workers=1)
        _, interrupted = run_in_foreground(executor, events, JobProgressView(), job_ids=[job.id])
        if interrupted:
            # Released back to the queue by the executor; the user asked for it to stop, so cancel.
            store.cancel(job.id)
            return fail(f"job {job.id} cancelled; nothing was written", 130)
        job = store.get(job.id)
    if job.state is JobState.COMPLETED:
        for warning in job.warnings:
            print(f"warning: {warning}")
        print(f"done: {job.output}")
        return 0
    if job.state is JobState.CANCELLED:
        return fail(f"job {job.id} was cancelled", 130)
    return fail(job.error or f"job {job.id} ended as {job.state.value}", 1)
