"""`GET /api/status` (viewer): version, engines and their health, GPU memory, system load, the live
session, queue counts by state — see app/server/status_view.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ..auth import require
from ..envelope import ok
from ..roles import Role
from ..status_view import status_snapshot

router = APIRouter(tags=["status"])


@router.get("/api/status", dependencies=[Depends(require(Role.VIEWER))])
def status(request: Request) -> dict[str, Any]:
    """What this server runs and how it is doing. Never loads an engine to answer."""
    return ok(status_snapshot(request.app.state.context))
