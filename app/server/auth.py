"""Bearer-token authentication and role checks, as FastAPI dependencies.

`Depends(require(Role.OPERATOR))` on a route: 401 without a valid token, 403 when its role is too low.
WebSockets take the same header or a `token` query parameter (browsers cannot set headers on them).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, WebSocket

from .envelope import ApiError, ErrorCode
from .roles import Role
from .tokens import TokenRecord, TokenStore


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(tokens: TokenStore, token: str | None, needed: Role) -> TokenRecord:
    if token is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED,
                       "no token — send 'Authorization: Bearer TOKEN' (see `swapcast serve --show-token`)")
    record = tokens.verify(token)
    if record is None:
        raise ApiError(401, ErrorCode.UNAUTHORIZED,
                       "unknown or revoked token — create one with `swapcast tokens create --role ROLE`")
    if not record.role.allows(needed):
        raise ApiError(403, ErrorCode.FORBIDDEN,
                       f"{_a(record.role)} token cannot do this — it needs {_a(needed)} token")
    return record


def _a(role: Role) -> str:
    return ("an " if role.value[0] in "aeiou" else "a ") + role.value


def require(needed: Role) -> Callable[[Request], TokenRecord]:
    """A dependency for HTTP routes."""

    def dependency(request: Request) -> TokenRecord:
        context = request.app.state.context
        record = authenticate(context.tokens, bearer(request.headers.get("authorization")), needed)
        request.state.role = record.role  # what the answer may show (public_paths.py)
        return record

    return dependency


def authenticate_websocket(websocket: WebSocket, needed: Role) -> TokenRecord:
    """For WebSocket routes (call before accept(); on ApiError close with 1008)."""
    context = websocket.app.state.context
    token = bearer(websocket.headers.get("authorization")) or websocket.query_params.get("token")
    return authenticate(context.tokens, token, needed)
