"""The server's handle on the live session: start/stop it, change its controls, read its stats and
latest frame — through app.pipeline.api, the interface the CLI and the GUI use.

(Filled in by the issue-12 live-control work: routes/live.py and routes/sources.py call this; the
status endpoint and the event stream read `snapshot()`.)
"""

from __future__ import annotations

from typing import Any


class LiveHost:
    """At most one live session per server."""

    def snapshot(self) -> dict[str, Any] | None:
        """The session's state and stats, JSON-ready (fps, p50/p95 latency, drops, outputs); None when
        no session has run."""
        return None
