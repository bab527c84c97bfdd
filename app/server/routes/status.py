"""`GET /api/status` (viewer): version, engines and their health, GPU memory, system load, the live
session, queue counts by state — see app/server/status_view.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ..auth import require
from ..envelope import ok
from ..public_paths import live_view
from ..roles import Role
from ..status_view import status_snapshot
from ..tokens import TokenRecord

router = APIRouter(tags=["status"])


@router.get("/api/status")
def status(request: Request, token: TokenRecord = Depends(require(Role.VIEWER))) -> dict[str, Any]:
    """What this server runs and how it is doing, and the role of the token asking (a client shows
    only the controls it may use). Never loads an engine to answer."""
    snapshot = status_snapshot(request.app.state.context)
    return ok({**snapshot, "live": live_view(snapshot["live"], token.role), "role": token.role.value})
