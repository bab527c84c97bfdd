"""The FastAPI application: one router per group of endpoints, one error envelope, OpenAPI at /docs."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from app import __version__

from .context import ServerContext
from .envelope import install_error_handlers

# Each module has `router` (an APIRouter). Order: the dashboard's catch-all static files last.
ROUTE_MODULES: tuple[str, ...] = (
    "app.server.routes.health",
    "app.server.routes.status",
    "app.server.routes.jobs",
    "app.server.routes.live",
    "app.server.routes.sources",
    "app.server.routes.events",
    "app.server.routes.avatar",
    "app.server.routes.dashboard",
)


def create_app(context: ServerContext) -> FastAPI:
    app = FastAPI(title="SwapCast", version=__version__, docs_url="/docs", redoc_url=None,
                  description="SwapCast's task API: jobs, live control, events. Every endpoint but /health "
                              "needs 'Authorization: Bearer TOKEN'.")
    app.state.context = context
    install_error_handlers(app)
    for name in ROUTE_MODULES:
        app.include_router(importlib.import_module(name).router)
    return app
