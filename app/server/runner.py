"""Running the API: check the address, bind it, serve with uvicorn on a thread.

Two callers: `swapcast serve` (`run_service`: the API plus N queue workers in this process, until
Ctrl-C or SIGTERM) and the studio (`start_in_thread`: the API beside the window, sharing its job store
and event bus; the window's own workers run the jobs). Both build the ServerContext from the user's
folders: the jobs database the CLI and GUI use, uploads under the data folder, tokens.json in the
settings folder.

uvicorn always runs on a thread of ours, never on the main thread: there it would install its own
SIGINT/SIGTERM handlers and re-raise the signal after shutting down (the process would then die of it
instead of exiting 0). The main thread keeps the signals and stops everything in order.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from app.jobs.console import run_in_foreground
from app.jobs.events import EventBus
from app.jobs.executor import LocalExecutor
from app.jobs.model import Job
from app.jobs.store import JobStore
from app.offline import load_runner_factory
from app.paths import UserPaths, user_paths
from engines.errors import InputError, SwapCastError

from .app import create_app
from .avatar.manager import AvatarManager, AvatarSettings
from .context import DEFAULT_MAX_UPLOAD_BYTES, ServerContext, ServerSettings
from .tokens import TokenStore, tokens_path

_log = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
UPLOADS_FOLDER = "uploads"  # under the data folder, beside jobs.sqlite3
START_TIMEOUT_S = 30.0
# Open WebSockets and long downloads get this long to finish before a stop closes them.
GRACEFUL_SHUTDOWN_S = 5.0


class RemoteNotAllowed(InputError):
    """A non-loopback address without --allow-remote."""


class PortBusy(InputError):
    """The port is taken (or cannot be bound)."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = LOOPBACK_HOST
    port: int = DEFAULT_PORT
    workers: int = 1  # queue workers in this process (`swapcast serve`); 0: the API only
    allow_remote: bool = False
    allow_paths: tuple[Path, ...] = ()
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    allow_urls: bool = False  # http(s) source_url / target_url (public addresses only)
    avatar: AvatarSettings = field(default_factory=AvatarSettings)  # avatar sessions' limits


# ---- the address ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Address:
    family: socket.AddressFamily
    ip: str
    loopback: bool


def resolve(host: str) -> Address:
    """The address `host` names (a literal, or a name such as localhost)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise InputError(f"cannot resolve --host {host}: {error}",
                         f"use an IP address of this machine, e.g. --host {LOOPBACK_HOST}") from error
    family, _, _, _, sockaddr = infos[0]
    ip = str(sockaddr[0])
    return Address(family=family, ip=ip, loopback=ipaddress.ip_address(ip.split("%")[0]).is_loopback)


def check_host(host: str, allow_remote: bool) -> Address:
    """The address to bind; refuses one other machines can reach unless `allow_remote`."""
    address = resolve(host)
    if not address.loopback and not allow_remote:
        raise RemoteNotAllowed(
            f"--host {host} lets other machines reach the API",
            f"add --allow-remote to allow that (every request still needs a token), or leave --host out "
            f"to stay on {LOOPBACK_HOST}")
    return address


def bind(address: Address, port: int) -> socket.socket:
    """A listening socket on `address`:`port` (0: a free port), or PortBusy in one line."""
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets whose
    # proto says TCP, and with Nagle on every response waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(address.family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # As uvicorn does: a restart may reuse a port in TIME_WAIT; a port someone listens on stays refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address.ip, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortBusy(f"port {port} on {address.ip} is already in use",
                           "stop what runs there, or pick another with --port N (--port 0 picks a free one)") from error
        if error.errno == errno.EACCES:
            raise PortBusy(f"no permission to listen on port {port}",
                           "use a port above 1023, e.g. --port 8765 (--port 0 picks a free one)") from error
        raise PortBusy(f"cannot listen on {address.ip}:{port}: {error.strerror or error}",
                       "pick another --host or --port") from error
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


# ---- the context ---------------------------------------------------------------------------------
def resolve_allowed(folders: Sequence[Path]) -> tuple[Path, ...]:
    """--allow-paths: existing folders, resolved (symlinks followed), so checks compare real paths."""
    resolved = []
    for folder in folders:
        real = Path(folder).expanduser().resolve()
        if not real.is_dir():
            raise InputError(f"--allow-paths {folder} is not a folder", "name an existing folder")
        resolved.append(real)
    return tuple(resolved)


def build_context(options: ServeOptions, paths: UserPaths | None = None, *, store: JobStore | None = None,
                  bus: EventBus | None = None) -> ServerContext:
    """The server's context on the user's folders. `store`/`bus`: share a caller's (the studio's)."""
    paths = paths or user_paths()
    if store is None:
        bus = bus or EventBus()
        store = JobStore(paths.jobs_db, events=bus)
    elif bus is None:
        bus = store.events or EventBus()
    settings = ServerSettings(uploads=paths.data / UPLOADS_FOLDER, max_upload_bytes=options.max_upload_bytes,
                              allow_paths=resolve_allowed(options.allow_paths), allow_urls=options.allow_urls)
    return ServerContext(store=store, bus=bus, tokens=TokenStore(tokens_path(paths.settings)), settings=settings,
                         avatars=AvatarManager(options.avatar))


# ---- serving on a thread -------------------------------------------------------------------------
@dataclass
class ServerHandle:
    """A running server: `url` (the address actually bound), `stop()` (idempotent, waits)."""

    url: str
    context: ServerContext
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _owns_store: bool = field(default=True, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Until the server's thread ends; True once it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        if not self.wait(timeout):
            self._server.force_exit = True  # connections that would not close in time
            self.wait(timeout)
        if self._owns_store:
            self.context.store.close()


def serve_on_thread(context: ServerContext, sock: socket.socket, *, owns_store: bool = True,
                    app: FastAPI | None = None) -> ServerHandle:
    """uvicorn on `sock` (bound) on a daemon thread; returns once it accepts connections.
    `app`: one made by create_app(context) with more routes (tests); default: create_app(context)."""
    config = uvicorn.Config(app or create_app(context), log_level="warning", lifespan="auto",
                            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="swapcast-api", daemon=True)
    handle = ServerHandle(url=url_of(sock), context=context, _server=server, _thread=thread, _owns_store=owns_store)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            handle.stop(timeout=5)
            sock.close()
            raise SwapCastError("the API server did not start", "the messages above say why")
        time.sleep(0.01)
    return handle


def start_in_thread(options: ServeOptions, paths: UserPaths | None = None, *, store: JobStore | None = None,
                    bus: EventBus | None = None) -> ServerHandle:
    """The API on a background thread (the studio's "Allow remote control"); no queue workers.

    Raises RemoteNotAllowed / PortBusy / InputError before anything is served. A given `store` stays
    the caller's to close."""
    address = check_host(options.host, options.allow_remote)
    sock = bind(address, options.port)
    try:
        context = build_context(options, paths, store=store, bus=bus)
    except BaseException:
        sock.close()
        raise
    return serve_on_thread(context, sock, owns_store=store is None)


@contextmanager
def serving(context: ServerContext, app: FastAPI | None = None) -> Iterator[ServerHandle]:
    """The API on 127.0.0.1:<free port> for the length of a `with` (the benchmark, the tests); the
    context's store stays the caller's."""
    handle = serve_on_thread(context, bind(check_host("127.0.0.1", False), 0), owns_store=False, app=app)
    try:
        yield handle
    finally:
        handle.stop()


# ---- `swapcast serve` ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    """What `swapcast serve` tells its user once the API answers."""

    url: str
    remote: bool  # reachable from other machines
    admin_token: str | None  # created on this first start: shown once
    workers: int


class _NoWorkers:
    """The Executor of `--workers 0`: serves nothing, ends when stopped (the API alone)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    @property
    def finished(self) -> list[Job]:
        return []


class _AnnouncedExecutor:
    """Calls `announce` once the executor has started, which run_in_foreground does only after its
    SIGINT/SIGTERM handlers are in place: a script that reads the URL and at once sends SIGTERM gets a
    clean stop, not a process killed by the default handler."""

    def __init__(self, inner: LocalExecutor | _NoWorkers, announce: Callable[[], None]) -> None:
        self.inner = inner
        self.announce = announce

    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        self.inner.start(forever=forever, job_ids=job_ids)
        self.announce()

    def stop(self) -> None:
        self.inner.stop()

    def join(self, timeout: float | None = None) -> bool:
        return self.inner.join(timeout)

    @property
    def finished(self) -> list[Job]:
        return self.inner.finished


def run_service(options: ServeOptions, on_started: Callable[[Started], None],
                paths: UserPaths | None = None) -> tuple[list[Job], bool]:
    """Serve the API and the queue until Ctrl-C/SIGTERM (call on the main thread).

    Running jobs go back to the queue on a stop, as with `swapcast worker`. Returns the jobs the
    workers settled and whether a signal stopped it (False: the server ended by itself)."""
    address = check_host(options.host, options.allow_remote)
    sock = bind(address, options.port)  # a busy port is reported before anything else is opened
    try:
        context = build_context(options, paths)
    except BaseException:
        sock.close()
        raise
    handle: ServerHandle | None = None
    try:
        executor: LocalExecutor | _NoWorkers = _NoWorkers()
        if options.workers:
            factory = load_runner_factory()  # RunnerUnavailable → one line, before anything is served
            factory()  # a build that cannot run jobs says so (RunnerUnavailable) before anything is served
            executor = LocalExecutor(context.store, factory, workers=options.workers)
        admin_token = context.tokens.ensure_admin()
        handle = serve_on_thread(context, sock)
        # If uvicorn stops by itself (a crash), stop the workers too, so the process does not live on deaf.
        threading.Thread(target=lambda: handle.wait() and executor.stop(), name="swapcast-api-watch",
                         daemon=True).start()
        started = Started(url=handle.url, remote=not address.loopback, admin_token=admin_token,
                          workers=options.workers)
        with context.bus.subscribe(maxsize=1024) as events:
            return run_in_foreground(_AnnouncedExecutor(executor, lambda: on_started(started)), events,
                                     forever=True)
    finally:
        if handle is not None:
            handle.stop()
        else:
            sock.close()
            context.store.close()
