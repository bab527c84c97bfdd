"""`GET /api/sources` (viewer) and `POST /api/sources` (operator): the identities the studio's
Sources panel shows — the same file (app.sources.library), so a face added here appears there.

Photos are uploaded (multipart), checked and stored under the server's own folder with generated
names; the same photo sent twice (same content) is one photo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from app.sources.library import Gallery, SavedIdentity, add_photos, file_digest

from ..auth import require
from ..context import ServerContext
from ..envelope import ApiError, ErrorCode, ok
from ..photos import read_form, store_photo, uploads_in
from ..roles import Role

router = APIRouter(tags=["sources"])

NAME_MAX = 64
PHOTO_FIELDS = ("photo", "photos")


def describe(identity: SavedIdentity, index: int, active: int) -> dict[str, Any]:
    """One identity as clients see it: photo file names only (where the server keeps them is its own business)."""
    return {"index": index, "name": identity.name, "active": index == active,
            "photos": [photo.name for photo in identity.photos],
            "usable_photos": sum(1 for photo in identity.photos if photo.is_file())}


def describe_gallery(gallery: Gallery) -> dict[str, Any]:
    return {"sources": [describe(identity, i, gallery.active) for i, identity in enumerate(gallery.identities)],
            "active": gallery.active if gallery.identities else None}


def check_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise ApiError(422, ErrorCode.INVALID_REQUEST,
                       f"name: give the person a name of 1–{NAME_MAX} printable characters — e.g. -F name=Alice")
    return name


@router.get("/api/sources", dependencies=[Depends(require(Role.VIEWER))])
def list_sources(request: Request) -> dict[str, Any]:
    context: ServerContext = request.app.state.context
    return ok(describe_gallery(context.sources.load()))


@router.post("/api/sources", status_code=201, dependencies=[Depends(require(Role.OPERATOR))],
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["name", "photo"],
                 "properties": {"name": {"type": "string"},
                                "photo": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}})
async def add_source(request: Request, response: Response) -> dict[str, Any]:
    """Add photos (multipart `photo`, repeatable) to the identity `name` — a new one when there is none.
    201 when a photo was added; 200 when every photo was already in the library."""
    context: ServerContext = request.app.state.context
    form = await read_form(request, context.settings)
    name = check_name(form.get("name"))
    uploads = uploads_in(form, *PHOTO_FIELDS)
    if not uploads:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, "photo: no photo sent — add -F photo=@face.jpg")
    stored = [store_photo(upload, context.settings) for upload in uploads]  # every one checked before any is added
    digests = {photo.path: photo.digest for photo in stored}

    def digest(path: Path) -> str:
        return digests.get(path) or file_digest(path)

    added: list[Path] = []
    duplicates: list[Path] = []

    def change(gallery: Gallery) -> Gallery:
        updated, new, same = add_photos(gallery, name, [photo.path for photo in stored], digest=digest)
        added.extend(new)
        duplicates.extend(same)
        return updated

    gallery = context.sources.update(change)
    if not added:
        response.status_code = 200
    index = gallery.find(name)
    return ok({"source": describe(gallery.identities[index], index, gallery.active) if index is not None else None,
               "added": len(added), "duplicates": len(duplicates)})
