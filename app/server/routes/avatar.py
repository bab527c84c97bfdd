"""Avatar sessions: a photo (or an idle loop) animated by a client's speech, streamed back as video.

- `POST /api/avatar/sessions` (operator): multipart with the picture as `photo` (or a video as `loop`),
  or `path` (a file on the server, inside --allow-paths; JSON `{"path": ...}` works too); optional
  `fps` (a photo's frame rate, default 25) and `weight` (0..1, how strongly the mouth follows).
  201 with the session; 422 no_face when the picture shows no face; 503 memory_full / sessions_full.
- `GET /api/avatar/sessions` (viewer): the sessions, the limit and the memory reading.
- `DELETE /api/avatar/sessions/{id}` (operator): closes it (a connected client gets close code 1000).
- `WebSocket /api/avatar/sessions/{id}` (operator; `?token=` for browsers; `?format=pcm16|opus`,
  `&rate=16000&channels=1` for PCM16): the protocol is in app/server/avatar/connection.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from starlette.concurrency import run_in_threadpool

from ..auth import authenticate_websocket, require
from ..avatar.connection import serve_avatar
from ..avatar.manager import AvatarManager
from ..avatar.session import CloseCode
from ..avatar.source import SourceKind, loop_fps, source_kind
from ..context import ServerContext
from ..envelope import ApiError, ErrorCode, ok
from ..websocket_close import close_reason
from ..paths_policy import allowed_path
from ..roles import Role
from ..uploads import UploadArea, read_small_body, receive_form, sniff

FILE_FIELDS = ("photo", "loop")
MAX_JSON_BYTES = 16 * 1024
FPS_RANGE = (1, 60)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.context.avatars.stop()


router = APIRouter(prefix="/api/avatar", tags=["avatar"], lifespan=_lifespan)


def _manager(request: Request) -> AvatarManager:
    context: ServerContext = request.app.state.context
    return context.avatars


@router.get("/sessions", dependencies=[Depends(require(Role.VIEWER))])
def list_sessions(request: Request) -> dict[str, Any]:
    return ok(_manager(request).status())


@router.delete("/sessions/{session_id}", dependencies=[Depends(require(Role.OPERATOR))])
def delete_session(request: Request, session_id: str) -> dict[str, Any]:
    _manager(request).delete(session_id)
    return ok({"id": session_id, "deleted": True})


@router.post("/sessions", status_code=201, dependencies=[Depends(require(Role.OPERATOR))],
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "photo": {"type": "string", "format": "binary"}, "loop": {"type": "string", "format": "binary"},
                     "fps": {"type": "integer"}, "weight": {"type": "number"}}}},
                 "application/json": {"schema": {"type": "object", "properties": {
                     "path": {"type": "string"}, "fps": {"type": "integer"}, "weight": {"type": "number"}}}}}}})
async def create_session(request: Request) -> dict[str, Any]:
    context: ServerContext = request.app.state.context
    manager = context.avatars
    await manager.start()
    await run_in_threadpool(manager.admit)  # at the memory ceiling: refused before the upload is read
    picture = await _picture(request, context)
    try:
        weight = _number(picture.fields.get("weight"), "weight", 1.0, 0.0, 1.0)
        fps = int(_number(picture.fields.get("fps"), "fps", manager.settings.fps, *FPS_RANGE))
        if picture.kind is SourceKind.LOOP:
            fps = await run_in_threadpool(loop_fps, picture.path, fps)
    except BaseException:
        picture.discard(context)
        raise
    session = await run_in_threadpool(manager.create, picture.path, picture.kind, fps=fps, weight=weight,
                                      folder=picture.folder)
    return ok(session.describe())


@dataclass(frozen=True)
class _Picture:
    path: Path
    kind: SourceKind
    fields: dict[str, Any]  # the request's other fields (fps, weight)
    folder: Path | None  # the upload's own folder; None for a server path (the operator's file, never removed)

    def discard(self, context: ServerContext) -> None:
        if self.folder is not None:
            UploadArea(context.settings.uploads).remove([self.folder])


async def _picture(request: Request, context: ServerContext) -> _Picture:
    """The photo or loop of a create request: uploaded (multipart), or a server path (multipart or JSON)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in ("application/json", ""):
        fields = _json_fields(await read_small_body(request, MAX_JSON_BYTES, "a session request without a file is "
                                                    "a few fields — send the picture as a multipart upload"))
        return _Picture(*_server_path(fields.get("path"), context), fields, None)
    if media_type != "multipart/form-data":
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                       f"POST /api/avatar/sessions takes multipart/form-data or application/json, not {media_type} — "
                       "e.g. curl -F photo=@face.jpg")
    area = UploadArea(context.settings.uploads)
    folder = area.inputs(area.new_key())
    form = await receive_form(request, folder, max_bytes=context.settings.max_upload_bytes, file_fields=FILE_FIELDS)
    fields = {name: values[-1] for name, values in form.fields.items()}
    if len(form.files) == 1:
        return _Picture(form.files[0].path, source_kind(form.files[0].kind), fields, folder)
    area.remove([folder])
    if form.files:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, "one picture per session — send either photo or loop, once")
    return _Picture(*_server_path(fields.get("path"), context), fields, None)


def _server_path(raw: object, context: ServerContext) -> tuple[Path, SourceKind]:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       "no picture — send -F photo=@face.jpg (or -F loop=@idle.mp4), or a server path as path")
    path = allowed_path(raw.strip(), context.settings.allow_paths, what="avatar file")
    if not path.is_file():
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"avatar file {raw!r} not found — check the path on the server")
    return path, source_kind(sniff(path, path.name).kind)


def _number(raw: object, name: str, default: float, low: float, high: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not low <= value <= high:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name} must be a number from {low:g} to {high:g} — "
                       f"e.g. {name}={default:g}")
    return value



def _json_fields(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body or b"{}")
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise ApiError(422, ErrorCode.INVALID_REQUEST, 'the body is not a JSON object — e.g. {"path": "/srv/face.jpg"}')
    return fields


@router.websocket("/sessions/{session_id}")
async def avatar_socket(websocket: WebSocket, session_id: str) -> None:
    try:
        authenticate_websocket(websocket, Role.OPERATOR)
    except ApiError as error:
        await websocket.accept()
        await websocket.close(code=int(CloseCode.POLICY), reason=close_reason(error.message))
        return
    manager: AvatarManager = websocket.app.state.context.avatars
    await manager.start()
    await serve_avatar(websocket, manager, session_id)

