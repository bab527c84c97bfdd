"""Jobs: the same SQLite queue as `swapcast jobs` and the studio's Jobs tab (context.store).

    POST   /api/jobs                 operator  queue a swap (multipart uploads, or JSON with server paths)
    GET    /api/jobs                 viewer    ?state=pending&state=failed  ?limit=100&offset=0  (newest first)
    GET    /api/jobs/{id}            viewer
    POST   /api/jobs/{id}/cancel     operator
    POST   /api/jobs/{id}/retry      operator  ?overwrite=true|false
    DELETE /api/jobs/{id}            operator  (409 while running; its uploaded files go with it)
    GET    /api/jobs/{id}/output     viewer    the output file, with Range support; ?index=N with several targets
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from app.jobs.errors import JobNotFound, JobStateError
from app.jobs.model import Job, JobSpec, JobState

from ..auth import require
from ..context import ServerContext
from ..envelope import ApiError, ErrorCode, ok
from ..job_requests import FILE_FIELDS, JobRequest, build_spec, parse_form, parse_json
from ..job_views import job_view
from ..roles import Role
from ..tokens import TokenRecord
from ..uploads import StoredFile, UploadArea, read_small_body, receive_form

router = APIRouter(tags=["jobs"])
_log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024**2  # a JSON job request holds options and paths, never data
DEFAULT_PAGE = 100
MAX_PAGE = 1000

_VIEWER = [Depends(require(Role.VIEWER))]
_OPERATOR = [Depends(require(Role.OPERATOR))]
# Routes that answer with jobs take the token itself: what a job shows depends on its role (job_views.py).
_AS_VIEWER = Depends(require(Role.VIEWER))
_AS_OPERATOR = Depends(require(Role.OPERATOR))

_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{name: {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": f"{name} file(s) to upload (a text part: a server-side path, with --allow-paths)"}
           for name in FILE_FIELDS},
        **{name: {"type": "string"} for name in JobRequest.model_fields if name not in ("sources", "targets")},
    },
}
_ADD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": _FORM_SCHEMA},
    "application/json": {"schema": JobRequest.model_json_schema()},
}}}


def _context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


def _area(context: ServerContext) -> UploadArea:
    return UploadArea(context.settings.uploads)


@contextmanager
def _job_errors(job_id: int, fix: str | None = None) -> Iterator[None]:
    """The queue's own errors, as the API's statuses (`fix`: the API's words for the CLI's fix)."""
    try:
        yield
    except JobNotFound:
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id} — see GET /api/jobs") from None
    except JobStateError as error:
        raise ApiError(409, ErrorCode.CONFLICT, f"{error.problem} — {fix or error.fix}") from None


def _get(context: ServerContext, job_id: int) -> Job:
    with _job_errors(job_id):
        return context.store.get(job_id)


# ---- adding ----------------------------------------------------------------------------------


@router.post("/api/jobs", status_code=201, openapi_extra=_ADD_BODY,
             summary="Queue a swap (the fields of `swapcast jobs add`)")
async def add_job(request: Request, token: TokenRecord = _AS_OPERATOR) -> dict[str, Any]:
    """multipart/form-data: files `source`, `target`, `reference` (repeatable) and the options as text
    fields; or application/json with server-side paths (`sources`, `targets`, `reference`; only with
    --allow-paths). Responds 201 with the job. Nothing is queued (and no file kept) when it fails."""
    context = _context(request)
    area = _area(context)
    key = area.new_key()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    uploads: list[StoredFile] = []
    if media_type == "multipart/form-data":
        form = await receive_form(request, area.inputs(key), max_bytes=context.settings.max_upload_bytes,
                                  file_fields=FILE_FIELDS)
        uploads = form.files
        if not uploads:
            area.remove_request(key)  # paths only: no empty folder left behind
        try:
            job_request = parse_form(form.fields)
        except ApiError:
            area.remove_request(key)
            raise
    elif media_type == "application/x-www-form-urlencoded":  # curl -d: options and server paths, no files
        text = (await _small_body(request)).decode("utf-8", "replace")
        job_request = parse_form(parse_qs(text, keep_blank_values=True))
    elif media_type in ("application/json", ""):
        job_request = parse_json(await _small_body(request))
    else:
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                       f"POST /api/jobs takes multipart/form-data, application/json or a urlencoded form, not {media_type} — "
                       "upload files with curl -F source=@face.jpg -F target=@clip.mp4")
    job = await run_in_threadpool(_queue, context, area, key, job_request, uploads)
    return ok(job_view(job, token.role))


async def _small_body(request: Request) -> bytes:
    return await read_small_body(request, MAX_JSON_BYTES, f"a job request without files is over {MAX_JSON_BYTES} "
                                 "bytes — send files as multipart uploads")


def _queue(context: ServerContext, area: UploadArea, key: str, job_request: JobRequest,
           uploads: list[StoredFile]) -> Job:
    """Build, check and queue the spec; on any failure the request's folders are removed."""
    try:
        spec = build_spec(job_request, uploads, area, key, context.settings.allow_paths,
                          allow_urls=context.settings.allow_urls)
        return context.store.add(spec)
    except BaseException:
        area.remove_request(key)
        raise


# ---- reading -----------------------------------------------------------------------------------


@router.get("/api/jobs", summary="List jobs, newest first")
def list_jobs(
    request: Request,
    token: TokenRecord = _AS_VIEWER,
    state: list[str] | None = Query(None, description="only jobs in these states (repeatable): "
                                    + ", ".join(s.value.lower() for s in JobState)),
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Newest first (highest id first). `total`: how many match the filter, for paging."""
    states = _states(state) if state else None
    jobs = _context(request).store.list(states)
    jobs.reverse()
    page = jobs[offset:offset + limit]
    return ok({"jobs": [job_view(job, token.role) for job in page], "total": len(jobs), "limit": limit, "offset": offset})


def _states(raw: list[str]) -> list[JobState]:
    names = [name for text in raw for name in text.split(",") if name.strip()]
    try:
        return [JobState(name.strip().upper()) for name in names]
    except ValueError:
        valid = ", ".join(s.value.lower() for s in JobState)
        raise ApiError(400, ErrorCode.INVALID_REQUEST, f"unknown state in {','.join(raw)!r} — use {valid}") from None


@router.get("/api/jobs/{job_id}", summary="One job")
def get_job(request: Request, job_id: int, token: TokenRecord = _AS_VIEWER) -> dict[str, Any]:
    return ok(job_view(_get(_context(request), job_id), token.role))


# ---- acting ------------------------------------------------------------------------------------


@router.post("/api/jobs/{job_id}/cancel", summary="Cancel a pending or running job")
def cancel_job(request: Request, job_id: int, token: TokenRecord = _AS_OPERATOR) -> dict[str, Any]:
    """A pending job is cancelled at once; a running one is flagged and its worker stops at the next frame."""
    with _job_errors(job_id):
        return ok(job_view(_context(request).store.cancel(job_id), token.role))


@router.post("/api/jobs/{job_id}/retry", summary="Run a finished job again")
def retry_job(request: Request, job_id: int, token: TokenRecord = _AS_OPERATOR,
              overwrite: bool | None = Query(None, description="replace the output if it exists (default: "
                                             "yes for outputs in the server's folder, else as the job said)")) -> dict[str, Any]:
    context = _context(request)
    job = _get(context, job_id)
    if overwrite is None and _area(context).owns(job.spec.output):
        overwrite = True  # the server's own output folder: nothing of the user's to protect
    with _job_errors(job_id):
        return ok(job_view(context.store.retry(job_id, overwrite=overwrite), token.role))


@router.delete("/api/jobs/{job_id}", dependencies=_OPERATOR, summary="Remove a job that is not running")
def delete_job(request: Request, job_id: int) -> dict[str, Any]:
    """Its uploaded inputs and its outputs in the server's folder are deleted with it (files elsewhere stay)."""
    context = _context(request)
    job = _get(context, job_id)
    with _job_errors(job_id, fix=f"cancel it first (POST /api/jobs/{job_id}/cancel), then delete it"):
        context.store.remove(job_id)
    removed = _area(context).remove(_paths_of(job.spec))
    return ok({"id": job_id, "removed": True, "files_removed": len(removed) > 0})


def _paths_of(spec: JobSpec) -> list[str]:
    return [*spec.sources, *spec.targets, *([spec.reference] if spec.reference else []), spec.output,
            *map(str, spec.destinations())]


# ---- the output ----------------------------------------------------------------------------------


@router.head("/api/jobs/{job_id}/output", dependencies=_VIEWER, include_in_schema=False)
@router.get("/api/jobs/{job_id}/output", dependencies=_VIEWER, response_class=FileResponse,
            summary="Download the output (Range requests supported)")
def job_output(request: Request, job_id: int,
               index: int | None = Query(None, ge=0, description="which target's output, with several")) -> FileResponse:
    job = _get(_context(request), job_id)
    if job.state is not JobState.COMPLETED:
        raise ApiError(409, ErrorCode.CONFLICT,
                       f"job {job_id} is {job.state.value.lower()}, it has no output yet — wait until it is "
                       f"completed (GET /api/jobs/{job_id})")
    if job.spec.remote_output:
        raise ApiError(409, ErrorCode.CONFLICT,
                       f"the output of job {job_id} was uploaded to {job.output} — download it from there (GET "
                       f"/api/jobs/{job_id} gives its presigned link)")
    destinations = job.spec.destinations()
    if index is None and len(destinations) > 1:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"job {job_id} has {len(destinations)} outputs — ask for one with ?index=0..{len(destinations) - 1}")
    chosen = index or 0
    if chosen >= len(destinations):
        raise ApiError(404, ErrorCode.NOT_FOUND,
                       f"job {job_id} has {len(destinations)} output(s), no index {chosen} — use ?index=0..{len(destinations) - 1}")
    path = Path(job.output) if len(destinations) == 1 and job.output and Path(job.output).is_file() else destinations[chosen]
    if not path.is_file():
        raise ApiError(404, ErrorCode.NOT_FOUND,
                       f"the output of job {job_id} is gone ({path.name} was moved or deleted) — retry the job "
                       f"(POST /api/jobs/{job_id}/retry)")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=path.name, content_disposition_type="inline")

