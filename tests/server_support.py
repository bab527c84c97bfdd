"""A real uvicorn server on a free loopback port for the API tests, and its clients.

`running_server(tmp_path)` builds the same ServerContext `swapcast serve` builds (job store, event bus,
tokens, uploads folder) under tmp_path, serves it with uvicorn on 127.0.0.1:<free port> in a thread,
waits until it accepts connections, and stops it on exit. Tokens of each role are made up front.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import APIRouter

from app.jobs.events import EventBus
from app.jobs.store import JobStore
from app.server.app import create_app
from app.server.context import ServerContext, ServerSettings
from app.server.roles import Role
from app.server.runner import serving
from app.server.tokens import TokenStore


@dataclass
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    context: ServerContext
    tokens: dict[Role, str]  # a plain token of each role

    def client(self, role: Role | None = Role.ADMIN, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


def make_context(root: Path, *, max_upload_bytes: int | None = None,
                 allow_paths: tuple[Path, ...] = ()) -> ServerContext:
    bus = EventBus()
    store = JobStore(root / "data" / "jobs.sqlite3", events=bus)
    settings = ServerSettings(uploads=root / "uploads", allow_paths=allow_paths,
                              **({"max_upload_bytes": max_upload_bytes} if max_upload_bytes else {}))
    return ServerContext(store=store, bus=bus, tokens=TokenStore(root / "settings" / "tokens.json"), settings=settings)


@contextmanager
def serve_context(context: ServerContext, routers: Sequence[APIRouter] = ()) -> Iterator[RunningServer]:
    """`routers`: extra routes a test adds (e.g. one that needs a role no real route needs yet)."""
    app = create_app(context)
    for router in routers:
        app.include_router(router)
    tokens = {role: context.tokens.create(role, f"test {role.value}")[1] for role in Role}
    try:
        with serving(context, app) as handle:
            yield RunningServer(url=handle.url, context=context, tokens=tokens)
    finally:
        context.store.close()


@contextmanager
def running_server(root: Path, routers: Sequence[APIRouter] = (), **settings: object) -> Iterator[RunningServer]:
    with serve_context(make_context(root, **settings), routers) as running:  # type: ignore[arg-type]
        yield running
