"""`swapcast worker [--forever] [--workers N]`: run queued jobs with the real swap runner; with
`--ray [ADDRESS] [--actors N] [--segment-seconds S]` the frames are swapped on Ray actors (app.cluster)."""

from __future__ import annotations

import argparse

from app.jobs.console import run_in_foreground
from app.jobs.events import EventBus
from app.jobs.executor import LocalExecutor
from app.jobs.model import Job, JobState
from app.jobs.store import JobStore
from app.offline import load_runner_factory
from app.paths import user_paths

from .common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run queued jobs (until the queue is empty, or --forever)",
        description="Runs pending jobs from the queue. Several workers — threads here, or other "
        "`swapcast worker` processes — share one queue safely. Ctrl-C puts running jobs back in the queue.",
    )
    parser.add_argument("--forever", action="store_true", help="keep waiting for new jobs until stopped")
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="jobs to run at once (default 1)")
    parser.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="swap on Ray actors: no ADDRESS starts Ray on this machine (or joins RAY_ADDRESS); "
        "`auto`, `ray://HOST:10001` or `HOST:6379` join a cluster (needs `pip install 'swapcast[cluster]'`)",
    )
    parser.add_argument("--actors", type=_positive_int, default=None, metavar="N",
                        help="with --ray: swap actors (default: one per GPU, else one per CPU)")
    parser.add_argument("--segment-seconds", type=_positive_float, default=None, metavar="S",
                        help="with --ray: split long videos into segments of about S seconds (default 10)")
    parser.add_argument("--poll", type=float, default=0.5, metavar="S", help=argparse.SUPPRESS)
    parser.add_argument("--lease", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run, needs_consent=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def run(args: argparse.Namespace) -> int:
    if args.ray is None and (args.actors or args.segment_seconds):
        return fail("--actors and --segment-seconds apply to Ray — add --ray (or --ray ADDRESS)")
    if args.ray is not None:
        return _run_on_ray(args)
    runner_factory = load_runner_factory()  # RunnerUnavailable → one line, exit 2, queue untouched
    bus = EventBus()
    with JobStore(user_paths().jobs_db, events=bus) as store, bus.subscribe(maxsize=1024) as events:
        executor = LocalExecutor(
            store,
            runner_factory,
            workers=args.workers,
            poll_s=args.poll,
            lease_s=args.lease,
        )
        finished, interrupted = run_in_foreground(executor, events, forever=args.forever)
    return _summarise(finished, interrupted, args.forever)


def _run_on_ray(args: argparse.Namespace) -> int:
    from app.cluster.ray_executor import RayExecutor
    from app.cluster.segment_job import DEFAULT_SEGMENT_S

    bus = EventBus()
    with JobStore(user_paths().jobs_db, events=bus) as store, bus.subscribe(maxsize=1024) as events:
        # ClusterUnavailable (no Ray, a dead address) → one line, exit 2, before anything is claimed.
        with RayExecutor(store, address=args.ray or None, actors=args.actors,
                         segment_seconds=args.segment_seconds or DEFAULT_SEGMENT_S,
                         workers=args.workers if args.workers > 1 else None,  # default: one job per actor
                         poll_s=args.poll, lease_s=args.lease) as executor:
            print(f"swapping on {executor.describe()}", flush=True)
            finished, interrupted = run_in_foreground(executor, events, forever=args.forever)
    return _summarise(finished, interrupted, args.forever)


def _summarise(finished: list[Job], interrupted: bool, forever: bool) -> int:
    latest = {job.id: job for job in finished}  # a job retried here appears once, as it ended
    counts = {state: sum(1 for job in latest.values() if job.state is state) for state in JobState}
    if not latest:
        print("stopped" if interrupted else "no pending jobs")
    else:
        parts = [f"{counts[state]} {state.value.lower()}" for state in JobState if counts[state]]
        print(f"{len(latest)} job{'s' if len(latest) != 1 else ''}: " + ", ".join(parts))
    if interrupted and not forever:
        return fail("interrupted", 130)
    return 1 if counts[JobState.FAILED] else 0
