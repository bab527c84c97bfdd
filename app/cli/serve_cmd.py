"""`swapcast serve`: the task API (jobs, live control, events, dashboard) and N queue workers, headless.

Secure by default: 127.0.0.1 only unless --allow-remote, a token on every request but /health. The
first start creates an admin token and prints it once (the file keeps only digests); `--show-token`
makes a fresh admin token, prints it and exits — it works while a server runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from app.server.roles import Role
from app.server.tokens import TokenStore

from .common import fail, warn

MIB = 1024**2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the task API (jobs, live control, events, web dashboard) and queue workers",
        description="Serves the HTTP/WebSocket API and the dashboard (http://HOST:PORT/, OpenAPI at /docs) and "
                    "runs N queue workers in this process, until Ctrl-C or SIGTERM (running jobs go back to "
                    "the queue). It uses the same job queue as `swapcast jobs` and the studio. Every request but "
                    "/health needs 'Authorization: Bearer TOKEN': the first start prints an admin token; make "
                    "more with `swapcast tokens create --role viewer|operator|admin`. See docs/API.md.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--workers", type=_count, default=1, metavar="N",
                        help="jobs to run at once in this process (default 1; 0: the API only, with "
                             "`swapcast worker` elsewhere running the queue)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other machines can reach (e.g. 0.0.0.0)")
    parser.add_argument("--allow-paths", action="append", type=Path, default=[], metavar="DIR",
                        help="let jobs name files on this machine, inside DIR only (repeatable; off by default: "
                             "uploads only)")
    parser.add_argument("--allow-urls", action="store_true",
                        help="let jobs take http(s) source_url / target_url (public addresses only; s3:// gs:// "
                             "r2:// objects need no flag)")
    parser.add_argument("--max-upload-mb", type=_positive, default=None, metavar="N",
                        help="largest upload accepted, in MiB (default 2048)")
    parser.add_argument("--avatar-sessions", type=_positive, default=None, metavar="N",
                        help="lip-synced avatar sessions open at once (default 4; the least recently used one "
                             "without a client makes room)")
    parser.add_argument("--avatar-memory-mb", type=_positive, default=None, metavar="N",
                        help="this process's memory ceiling for avatar sessions, in MiB (default half the machine's "
                             "memory): idle sessions close at 80 %%, new ones are refused at 100 %%")
    parser.add_argument("--show-token", action="store_true",
                        help="create a fresh admin token, print it and exit (tokens are stored as digests: an "
                             "existing one cannot be shown again; revoke old ones with `swapcast tokens revoke`)")
    parser.set_defaults(handler=run, needs_consent=True)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0..65535 (0 picks a free port)")
    return value


def _count(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def show_token() -> int:
    record, token = TokenStore().create(Role.ADMIN, "created by `swapcast serve --show-token`")
    print(f"admin token {record.id} (shown once — keep it; `swapcast tokens revoke {record.id}` to drop it):")
    print(token)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.show_token:
        return show_token()
    # Imported here: `swapcast --help` and the other commands do not load the web framework.
    from app.server.avatar.manager import AvatarSettings
    from app.server.context import DEFAULT_MAX_UPLOAD_BYTES
    from app.server.runner import ServeOptions, Started, run_service

    avatar = AvatarSettings()
    if args.avatar_sessions:
        avatar = dataclasses.replace(avatar, max_sessions=args.avatar_sessions)
    if args.avatar_memory_mb:
        avatar = dataclasses.replace(avatar, memory_ceiling_bytes=args.avatar_memory_mb * MIB)
    options = ServeOptions(host=args.host, port=args.port, workers=args.workers, allow_remote=args.allow_remote,
                           allow_paths=tuple(args.allow_paths), allow_urls=args.allow_urls,
                           max_upload_bytes=args.max_upload_mb * MIB if args.max_upload_mb else DEFAULT_MAX_UPLOAD_BYTES,
                           avatar=avatar)

    def started(info: Started) -> None:
        if info.remote:
            warn(f"the API listens on {args.host}: other machines can reach it — keep its tokens secret, and "
                 "put it behind TLS (a reverse proxy) on networks you do not trust")
        print(f"SwapCast API on {info.url} (dashboard: {info.url}/, docs: {info.url}/docs); "
              f"{info.workers or 'no'} queue worker{'s' if info.workers != 1 else ''}; Ctrl-C stops", flush=True)
        if info.admin_token:
            print("admin token (shown once — keep it; more with `swapcast tokens create`):", flush=True)
            print(info.admin_token, flush=True)

    finished, interrupted = run_service(options, started)
    print(f"stopped ({len({job.id for job in finished})} job(s) settled here)" if interrupted
          else "the API server ended", flush=True)
    return 0 if interrupted else fail("the API server ended unexpectedly — its log above says why", 1)
