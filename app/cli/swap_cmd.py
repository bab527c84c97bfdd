"""`swapcast swap`: queue one offline swap and run it here, with a progress bar; Ctrl-C cancels it.

It goes through the job queue like everything else, so the same job shows in `swapcast jobs list`
and in the GUI, survives a crash, and can be retried.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading

from app.jobs.admission import check_runnable
from app.jobs.cli_options import add_swap_options, spec_from_args
from app.jobs.console import JobProgressView, run_in_foreground
from app.jobs.events import EventBus, EventKind, JobEvent
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.offline import load_runner_factory
from app.offline.lipsync_checks import check_lip_sync_photos
from app.paths import user_paths
from engines.errors import SwapCastError

from .common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "swap", help="swap faces in images and videos (runs through the job queue, waits for it)",
        description="Swap the face(s) of SOURCE into TARGET images/videos. The job is queued and run "
                    "here; Ctrl-C cancels it and leaves nothing half-written.")
    add_swap_options(parser)
    parser.set_defaults(handler=run, needs_consent=True)


class _OtherWorkerRelay(threading.Thread):
    """If a `swapcast worker` in another process claims our job first, its progress reaches us only
    through the database: poll it and publish it on our bus, so the bar still moves."""

    def __init__(self, store: JobStore, bus: EventBus, job_id: int, interval_s: float = 0.5) -> None:
        super().__init__(name=f"swap-relay-{job_id}", daemon=True)
        self._store, self._bus, self._job_id, self._interval = store, bus, job_id, interval_s
        self._ours = f"{socket.gethostname()}:{os.getpid()}:"
        self._halt = threading.Event()

    def run(self) -> None:
        last = None
        while not self._halt.wait(self._interval):
            try:
                job = self._store.get(self._job_id)
            except SwapCastError:
                return
            foreign = job.worker_id is not None and not job.worker_id.startswith(self._ours)
            if foreign and job.state is JobState.PROCESSING and job.progress != last:
                last = job.progress
                self._bus.publish(JobEvent.from_job(job, EventKind.PROGRESS))
            if job.state.is_final:
                return

    def stop(self) -> None:
        self._halt.set()


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)  # one-line errors for missing files and bad options, before queueing
    check_runnable(spec)  # a job that could never run is refused now, not failed later
    check_lip_sync_photos(spec)  # a lip-sync photo without a face: refused now (loads the engine the job reuses)
    runner_factory = load_runner_factory()  # a build without the runner queues nothing here
    bus = EventBus()
    with JobStore(user_paths().jobs_db, events=bus) as store, bus.subscribe(maxsize=1024) as events:
        job = store.add(spec)
        print(f"job {job.id} queued: {len(spec.targets)} target(s) → {spec.output}")
        executor = LocalExecutor(store, runner_factory, workers=1)
        relay = _OtherWorkerRelay(store, bus, job.id)
        relay.start()
        # Warnings and how the job ended are said once, below, not also by the view.
        view = JobProgressView(caller_sums_up=True)
        try:
            _, interrupted = run_in_foreground(executor, events, view, job_ids=[job.id])
        finally:
            relay.stop()
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
    return fail(f"job {job.id} failed: {job.error}" if job.error else f"job {job.id} ended as {job.state.value}", 1)
