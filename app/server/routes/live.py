"""Live control: `POST /api/live/start|stop|source|controls` (operator), `GET /api/live/preview.jpg`
and the recordings, `GET /api/live/recordings[/NAME]` (viewer; Range requests supported) — the session the CLI's `swapcast live` and the studio's Live tab run, through LiveHost.

Nothing here names a path the client chose: the camera is an index, a /dev/videoN device, or a
video file inside `--allow-paths`; a recording is a plain file name, kept under the server's own
folder (<uploads>/recordings); source faces come from the sources library or an uploaded photo.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.pipeline.api import LiveConfig
from app.pipeline.controls import check_face_mode
from app.sources.library import Gallery
from engines.errors import SwapCastError

from ..auth import require
from ..context import ServerContext, ServerSettings
from ..envelope import ApiError, ErrorCode, ok
from ..live_host import ControlChanges, recording_url
from ..paths_policy import allowed_path
from ..photos import read_form, store_photo, uploads_in
from ..public_paths import live_view
from ..roles import Role



@asynccontextmanager
async def _stop_on_shutdown(app: FastAPI) -> AsyncIterator[None]:
    """A session still running when the server stops is stopped cleanly: its recording is finalised."""
    yield
    await run_in_threadpool(app.state.context.live.close)


router = APIRouter(prefix="/api/live", tags=["live"], lifespan=_stop_on_shutdown)

RECORDINGS_FOLDER = "recordings"
SOURCE_JSON_MAX = 4096  # {"name": ...} or {"index": N}: anything longer is not one of them
RECORD_SUFFIXES = (".mp4", ".mkv", ".mov")
_RECORD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")
_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")
_DEVICE = re.compile(r"^/dev/video\d+$")


class Outputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    virtual_cam: bool = Field(False, description="send to the virtual camera (OBS, Zoom, Meet)")
    record: str | None = Field(None, description="a file name (e.g. take1.mp4), kept in the server's recordings folder")
    stream: str | None = Field(None, description="udp://HOST:PORT (MPEG-TS), srt://HOST:PORT or rtmp://HOST/APP/KEY")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: int | str = Field(0, description="camera index, /dev/videoN, or a video file inside --allow-paths")
    size: str | None = Field("1280x720", description="WxH to ask the camera for; null: the camera's own")
    fps: float = Field(30.0, gt=0, le=240)
    outputs: Outputs = Field(default_factory=Outputs)
    sources: list[str] | None = Field(None, description="names from GET /api/sources, the first active; "
                                                        "default: the whole library")
    face_mode: str = Field("largest", description="largest | all | position | reference")
    position: int = Field(0, ge=0)
    mirror: bool = False
    enhancer: bool = False
    mouth_mask: bool = False
    enhance_blend: float = Field(0.8, ge=0, le=1)


class ControlsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    swap: bool | None = Field(None, description="false: bypass, the camera's own picture goes out")
    mirror: bool | None = None
    enhancer: bool | None = None
    mouth_mask: bool | None = None
    face_mode: str | None = Field(None, description="largest | all | position | reference")
    position: int | None = Field(None, ge=0)
    enhance_blend: float | None = None


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="a source of the session, or of GET /api/sources")
    index: int | None = Field(None, description="the session's source #index, from 0")


def _shown(request: Request, state: Any) -> dict[str, Any]:
    """The session's state in the envelope, without the server's paths for all but an admin."""
    return ok(live_view(state, request.state.role))


def _context(request: Request) -> ServerContext:
    return request.app.state.context  # type: ignore[no-any-return]


# ---- checking a start request ----------------------------------------------------------------------
def camera_of(value: int | str, settings: ServerSettings) -> str:
    text = str(value).strip()
    if text.isdigit() or _DEVICE.match(text):
        return text
    path = allowed_path(text, settings.allow_paths, what="camera file")
    if not path.is_file():
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"camera file {text!r} not found — check the path on the server")
    return str(path)


def size_of(text: str | None) -> tuple[int, int] | None:
    if text is None or text.strip().lower() in ("default", "auto", "camera"):
        return None
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 16 or int(match.group(2)) < 16:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"size {text!r} is not WIDTHxHEIGHT — e.g. \"1280x720\"")
    return int(match.group(1)), int(match.group(2))


def _recording_name_ok(name: str) -> bool:
    return bool(_RECORD_NAME.match(name)) and ".." not in name and Path(name).suffix.lower() in RECORD_SUFFIXES


def record_path_of(name: str | None, settings: ServerSettings) -> Path | None:
    if not name:
        return None
    if not _recording_name_ok(name):
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       f"outputs.record {name!r}: give a plain file name ending in "
                       f"{', '.join(RECORD_SUFFIXES)} — e.g. \"take1.mp4\" (it goes in the server's recordings folder)")
    path = settings.uploads / RECORDINGS_FOLDER / name
    if path.exists():
        raise ApiError(409, ErrorCode.CONFLICT, f"recording {name!r} already exists — choose another name")
    return path


def sources_of(names: list[str] | None, gallery: Gallery) -> tuple[tuple[str, ...], tuple[tuple[Path, ...], ...]]:
    """(names, photo groups) for the session: the named library entries, or the whole library."""
    if not gallery.identities:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       "the sources library is empty — add a face first with POST /api/sources (name + photo)")
    if names is None:
        order = list(range(len(gallery.identities)))
        active = gallery.active if 0 <= gallery.active < len(order) else 0
        order.insert(0, order.pop(active))  # the library's active face starts active
    else:
        if not names:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, "sources: give at least one name (or leave it out for all)")
        order = []
        for name in names:
            index = gallery.find(name)
            if index is None:
                raise _unknown_source(name, gallery)
            order.append(index)
    chosen = [gallery.identities[i] for i in order]
    groups = tuple(tuple(p for p in identity.photos if p.is_file()) for identity in chosen)
    for identity, group in zip(chosen, groups):
        if not group:
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           f"source {identity.name!r} has no photo left on disk — add one with POST /api/sources")
    return tuple(identity.name for identity in chosen), groups


def _unknown_source(name: str, gallery: Gallery) -> ApiError:
    known = ", ".join(identity.name for identity in gallery.identities) or "none yet"
    return ApiError(404, ErrorCode.SOURCE_NOT_FOUND,
                    f"no source named {name!r} — the library has: {known} (GET /api/sources; add with POST /api/sources)")


# ---- routes ----------------------------------------------------------------------------------------
@router.get("", dependencies=[Depends(require(Role.VIEWER))])
def state(request: Request) -> dict[str, Any]:
    """The session's state, stats (fps in/out, p50/p95 latency, drops), outputs and controls; null
    data when no session has run since the server started."""
    return _shown(request, _context(request).live.snapshot())


@router.post("/start", status_code=202, dependencies=[Depends(require(Role.OPERATOR))])
def start(body: StartRequest, request: Request) -> dict[str, Any]:
    """Start the live session (202: models load and the camera opens in the background; follow
    `state` in GET /api/status or the events). 409 when one is already running."""
    context = _context(request)
    settings = context.settings
    context.live.check_can_start()  # before anything is checked: the studio's session is stopped there
    try:
        check_face_mode(body.face_mode)
    except SwapCastError as error:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"face_mode: {error.one_line()}") from None
    camera = camera_of(body.camera, settings)
    names, groups = sources_of(body.sources, context.sources.load())
    config = LiveConfig(
        identities=groups, camera=camera, size=size_of(body.size), fps=body.fps,
        virtual_cam=body.outputs.virtual_cam, stream_url=body.outputs.stream or None,
        record_path=record_path_of(body.outputs.record, settings), mirror=body.mirror, enhance=body.enhancer,
        face_mode=body.face_mode, position=body.position, mouth_mask=body.mouth_mask,
        enhance_blend=body.enhance_blend,
    )
    return _shown(request, context.live.start(config, names))


@router.post("/stop", dependencies=[Depends(require(Role.OPERATOR))])
def stop(request: Request) -> dict[str, Any]:
    """Stop the session (a recording is finalised first); its final stats. The studio's session is
    stopped by the studio (its window shows it stopped)."""
    return _shown(request, _context(request).live.stop())


@router.post("/controls", dependencies=[Depends(require(Role.OPERATOR))])
def controls(body: ControlsRequest, request: Request) -> dict[str, Any]:
    """Change controls of the running session (each takes effect within a frame or two); the new state."""
    changes = ControlChanges(swap=body.swap, mirror=body.mirror, enhancer=body.enhancer, mouth_mask=body.mouth_mask,
                             face_mode=body.face_mode, position=body.position, enhance_blend=body.enhance_blend)
    return _shown(request, _context(request).live.set_controls(changes))


@router.post("/source", dependencies=[Depends(require(Role.OPERATOR))],
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": SourceRequest.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["photo"], "properties": {
                     "photo": {"type": "string", "format": "binary"}, "name": {"type": "string"}}}}}}})
async def source(request: Request) -> dict[str, Any]:
    """Switch the face swapped in: JSON `{"name": ...}` or `{"index": N}`, or a multipart `photo`
    (optionally with `name`). A face new to the session is recognised first (frames keep flowing);
    the answer comes once it is active, or says why it was not used."""
    context = _context(request)
    host = context.live
    host.require_running()  # before an upload is read or stored
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        host.require_own_session()  # the studio's faces come from its gallery: nothing uploaded for nothing
        form = await read_form(request, context.settings)
        uploads = uploads_in(form, "photo")
        if len(uploads) != 1:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, "photo: send exactly one photo — -F photo=@face.jpg")
        stored = await run_in_threadpool(store_photo, uploads[0], context.settings)
        given = form.get("name")
        name = given.strip() if isinstance(given, str) and given.strip() else f"upload {stored.digest[:8]}"
        switched = await run_in_threadpool(host.activate_name, name)
        if switched is None:
            switched = await run_in_threadpool(host.add_and_activate, name, (stored.path,))
        return _shown(request, switched)
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > SOURCE_JSON_MAX:
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       "send {\"name\": \"Alice\"} or {\"index\": 0} as JSON, or a photo as multipart (-F photo=@face.jpg)")
    try:
        body = SourceRequest.model_validate_json(await request.body())
    except ValueError:
        body = None
    if body is None or (body.name is None) == (body.index is None):
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       "send {\"name\": \"Alice\"} or {\"index\": 0} as JSON, or a photo as multipart (-F photo=@face.jpg)")
    if body.index is not None:
        return _shown(request, await run_in_threadpool(host.activate, body.index))
    name = body.name or ""
    switched = await run_in_threadpool(host.activate_name, name)
    if switched is not None:
        return _shown(request, switched)
    gallery = context.sources.load()
    index = gallery.find(name)
    if index is None:
        raise _unknown_source(name, gallery)
    identity = gallery.identities[index]
    photos = tuple(p for p in identity.photos if p.is_file())
    if not photos:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"source {identity.name!r} has no photo left on disk — add one with POST /api/sources")
    return _shown(request, await run_in_threadpool(host.add_and_activate, identity.name, photos))


@router.get("/preview.jpg", dependencies=[Depends(require(Role.VIEWER))],
            responses={200: {"content": {"image/jpeg": {}}}}, response_class=Response)
def preview(request: Request) -> Response:
    """The newest swapped frame as JPEG (poll it for a remote preview; never cached)."""
    host = _context(request).live
    if not host.has_run:
        raise ApiError(409, ErrorCode.LIVE_NOT_RUNNING, "no live session has run — start one with POST /api/live/start")
    data = host.preview_jpeg()
    if data is None:
        raise ApiError(404, ErrorCode.PREVIEW_NOT_READY,
                       "no frame yet — the session is still starting; try again in a moment")
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# ---- recordings ------------------------------------------------------------------------------------
def _recordings(settings: ServerSettings) -> list[Path]:
    """The finished recordings in the server's folder (a recording still being written has a temporary
    name until it is finalised), newest first."""
    folder = settings.uploads / RECORDINGS_FOLDER
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if path.is_file() and _recording_name_ok(path.name)]
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


@router.get("/recordings", dependencies=[Depends(require(Role.VIEWER))])
def recordings(request: Request) -> dict[str, Any]:
    """The recordings made by sessions started over the API (`outputs.record`), newest first: name,
    size in bytes, and the URL that downloads each."""
    return ok({"recordings": [{"name": path.name, "size": path.stat().st_size, "url": recording_url(path.name)}
                              for path in _recordings(_context(request).settings)]})


@router.head("/recordings/{name}", dependencies=[Depends(require(Role.VIEWER))], include_in_schema=False)
@router.get("/recordings/{name}", dependencies=[Depends(require(Role.VIEWER))], response_class=FileResponse)
def recording(request: Request, name: str) -> FileResponse:
    """Download a finished recording (Range requests supported, for players and resumed downloads)."""
    path = _context(request).settings.uploads / RECORDINGS_FOLDER / name
    if not _recording_name_ok(name) or not path.is_file():
        raise ApiError(404, ErrorCode.NOT_FOUND,
                       f"no finished recording named {name!r} — GET /api/live/recordings lists them "
                       "(one still being written appears once its session stops)")
    return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                        filename=path.name, content_disposition_type="inline")
