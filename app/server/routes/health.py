"""`GET /health` (no token): liveness for load balancers and Docker health checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app import __version__

from ..envelope import ok

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    context = request.app.state.context
    try:
        context.store.counts()
        queue_ok = True
    except Exception:  # noqa: BLE001 — a broken database is exactly what this reports
        queue_ok = False
    return ok({"alive": True, "version": __version__, "queue": queue_ok})
