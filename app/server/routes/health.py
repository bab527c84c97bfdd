"""`GET /health` (no token): liveness for load balancers and Docker health checks, and whether the
queue (its database answers) and an engine (one is enabled and its check passes: the engines' cached
check, as in GET /api/status, nothing loaded) are usable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app import __version__

from ..envelope import ok
from ..status_view import engines

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    context = request.app.state.context
    try:
        context.store.counts()
        queue_ok = True
    except Exception:  # noqa: BLE001 — a broken database is exactly what this reports
        queue_ok = False
    usable = [e["name"] for e in engines()["engines"] if e["enabled"] and e["available"] and e["state"] != "down"]
    return ok({"alive": True, "version": __version__, "queue": queue_ok, "engine": bool(usable), "engines": usable})
