"""What the server's WebSockets (events, avatar) close with: the codes they share, a reason within its limit."""

from __future__ import annotations

POLICY_VIOLATION = 1008  # WebSocket close code: bad token, or a client that stopped reading
GOING_AWAY = 1001  # the server is stopping


def close_reason(text: str, limit: int = 123) -> str:
    """A WebSocket close reason is at most 123 bytes of UTF-8."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."
