"""What `GET /api/status` reports, JSON-ready: version, engines and their health, GPU memory, system
load, the live session, queue counts. The event stream reuses the parts (engine health changes).

(Filled in by the issue-12 core work.)
"""

from __future__ import annotations

from typing import Any

from app import __version__

from .context import ServerContext


def queue_counts(context: ServerContext) -> dict[str, int]:
    return {state.value.lower(): n for state, n in context.store.counts().items()}


def engines_snapshot(context: ServerContext) -> list[dict[str, Any]]:
    """The engines and their health, JSON-ready (the event stream sends it when it changes)."""
    return []


def status_snapshot(context: ServerContext) -> dict[str, Any]:
    return {"version": __version__, "queue": queue_counts(context), "live": context.live.snapshot()}
