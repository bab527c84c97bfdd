"""`GET /health` (no token): liveness for load balancers and Docker health checks, and whether the
queue (its database answers) and an engine (one is enabled and its check passes: the engines' cached
check, as in GET /api/status, nothing loaded; the built-in one only with its model files in the
server's models folder) are usable. `?ready=1` answers 503 unless both are, for readiness probes and
`curl -f`-style health checks that read only the status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app import __version__
from app.jobs.admission import missing_builtin_models

from ..envelope import ok
from ..status_view import engines

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, ready: bool = False) -> Any:
    context = request.app.state.context
    try:
        context.store.counts()
        queue_ok = True
    except Exception:  # noqa: BLE001 — a broken database is exactly what this reports
        queue_ok = False
    try:
        _, missing = missing_builtin_models(None)
    except Exception as error:  # noqa: BLE001 — e.g. SWAPCAST_MODELS names a broken manifest: not usable
        missing = {f"unreadable models folder ({type(error).__name__})": None}
    usable = [e["name"] for e in engines()["engines"]
              if e["enabled"] and e["available"] and e["state"] != "down" and not (e["in_process"] and missing)]
    body = ok({"alive": True, "version": __version__, "queue": queue_ok, "engine": bool(usable), "engines": usable,
               "models_missing": sorted(missing)})
    if ready and not (queue_ok and usable):
        return JSONResponse(body, status_code=503)
    return body
