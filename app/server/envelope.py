"""One response envelope for every JSON endpoint.

Success: `{"ok": true, "data": ...}`. Failure: `{"ok": false, "error": {"code": ..., "message": ...}}`
with the right HTTP status — the message is one line that names the problem and the fix. A stack trace
never reaches a client: unexpected exceptions become `internal_error` and are logged here.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engines.errors import SwapCastError

_log = logging.getLogger(__name__)


class ErrorCode(str, Enum):
    """Every error code the API returns (clients switch on these)."""

    UNAUTHORIZED = "unauthorized"  # 401: no or unknown token
    FORBIDDEN = "forbidden"  # 403: the token's role may not do this
    NOT_FOUND = "not_found"  # 404: no such endpoint
    JOB_NOT_FOUND = "job_not_found"
    SOURCE_NOT_FOUND = "source_not_found"
    SESSION_NOT_FOUND = "session_not_found"  # 404: no such avatar session
    NO_FACE = "no_face"  # 422: the avatar's photo (or loop) shows no face
    INVALID_REQUEST = "invalid_request"  # 400/422: a field is missing or wrong
    CONFLICT = "conflict"  # 409: not in a state that allows it (e.g. retry a running job)
    TOO_LARGE = "too_large"  # 413: upload over the limit
    UNSUPPORTED_MEDIA = "unsupported_media"  # 415: not a picture / video we can read
    PATH_NOT_ALLOWED = "path_not_allowed"  # 403: server-side path outside --allow-paths (or paths off)
    LIVE_NOT_RUNNING = "live_not_running"  # 409
    PREVIEW_NOT_READY = "preview_not_ready"  # 404: the live session has not produced a frame yet
    UNAVAILABLE = "unavailable"  # 503: engine/queue/live not usable here
    MEMORY_FULL = "memory_full"  # 503: the process is at its memory ceiling (avatar sessions)
    SESSIONS_FULL = "sessions_full"  # 503: every avatar session has a client connected
    INTERNAL = "internal_error"  # 500: a bug; the log has the details


class ApiError(Exception):
    """Raise anywhere in a route: becomes the error envelope with `status`."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def ok(data: Any = None) -> dict[str, Any]:
    return {"ok": True, "data": data}


def error_body(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code.value, "message": message}}


def _respond(status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


_STATUS_CODES = {401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND,
                 405: ErrorCode.INVALID_REQUEST, 413: ErrorCode.TOO_LARGE, 415: ErrorCode.UNSUPPORTED_MEDIA}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return _respond(error.status, error.code, error.message, headers)

    @app.exception_handler(SwapCastError)
    async def _swapcast_error(request: Request, error: SwapCastError) -> JSONResponse:
        return _respond(400, ErrorCode.INVALID_REQUEST, error.one_line())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
        return _respond(422, ErrorCode.INVALID_REQUEST,
                        f"{where}: {first.get('msg', 'invalid')} — see /docs for the fields this endpoint takes")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, ErrorCode.INVALID_REQUEST)
        message = str(error.detail) if error.status_code != 404 else f"no endpoint {request.url.path} — see /docs"
        return _respond(error.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        _log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _respond(500, ErrorCode.INTERNAL,
                        f"internal error ({type(error).__name__}) — the server's log has the details")
