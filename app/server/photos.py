"""Uploaded face photos: size-limited, checked to be a real picture, stored under the server's own
folder with a generated name (the content's hash: the same photo sent twice is one file).

Used by `POST /api/sources` and `POST /api/live/source`. The checks are the engine's own
(engines.imaging.read_image: header, structure, pixel limit, then a decode), so a photo the server
accepts is one the live session can read.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, UploadFile
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import FormData

from engines.errors import InputError
from engines.imaging import read_image

from .context import ServerSettings
from .envelope import ApiError, ErrorCode

PHOTO_MAX_BYTES = 50 * 1024**2  # a large, uncompressed camera photo; a face needs far less
MAX_PHOTOS = 20  # per request
PHOTOS_FOLDER = "sources"
# Pillow's name for a format → the suffix the stored file gets (what cv2 decodes; no GIF: it may be a video).
FORMAT_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


@dataclass(frozen=True)
class StoredPhoto:
    path: Path
    digest: str  # sha256 of the content, hex
    filename: str  # what the client called it (shown, never used as a path)
    new: bool  # False: the same content was already stored


def photos_folder(settings: ServerSettings) -> Path:
    return settings.uploads / PHOTOS_FOLDER


def photo_limit(settings: ServerSettings) -> int:
    return min(PHOTO_MAX_BYTES, settings.max_upload_bytes)


async def read_form(request: Request, settings: ServerSettings) -> FormData:
    """The multipart form, refused with 413 from its Content-Length before a byte of it is read."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise ApiError(411, ErrorCode.INVALID_REQUEST,
                       "no Content-Length — send the photo as a normal multipart upload (curl -F photo=@face.jpg)")
    limit = photo_limit(settings) * MAX_PHOTOS
    if int(length) > min(limit, settings.max_upload_bytes):
        raise ApiError(413, ErrorCode.TOO_LARGE,
                       f"upload of {int(length) / 1024**2:.1f} MiB is over the limit of "
                       f"{min(limit, settings.max_upload_bytes) / 1024**2:.0f} MiB — send smaller photos")
    return await request.form(max_files=MAX_PHOTOS, max_fields=MAX_PHOTOS)


def uploads_in(form: FormData, *fields: str) -> list[UploadFile]:
    """The files sent under any of `fields` (a text value under them is not a file: 415)."""
    files: list[UploadFile] = []
    for name in fields:
        for value in form.getlist(name):
            if isinstance(value, str):
                raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                               f"{name} must be a file upload, not a text field — send it with -F {name}=@face.jpg")
            files.append(value)  # type: ignore[arg-type]
    return files


def store_photo(upload: UploadFile, settings: ServerSettings) -> StoredPhoto:
    """Check `upload` and keep it as <uploads>/sources/<sha256>.<ext>: 413 over the size limit, 415
    when it is not a picture (whatever its name or declared type says)."""
    label = os.path.basename(upload.filename or "photo")[:80] or "photo"
    limit = photo_limit(settings)
    if upload.size is not None and upload.size > limit:
        raise ApiError(413, ErrorCode.TOO_LARGE,
                       f"photo {label!r} is {upload.size / 1024**2:.1f} MiB, over the limit of "
                       f"{limit / 1024**2:.0f} MiB — send a smaller photo")
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and not (declared.startswith("image/") or declared == "application/octet-stream"):
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                       f"photo {label!r} was sent as {declared}, not as a picture — send a PNG or JPEG photo")
    upload.file.seek(0)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, ErrorCode.TOO_LARGE,
                       f"photo {label!r} is over the limit of {limit / 1024**2:.0f} MiB — send a smaller photo")
    suffix = _suffix(data, label)
    digest = hashlib.sha256(data).hexdigest()
    folder = photos_folder(settings)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = folder / f"{digest[:32]}{suffix}"
    if final.is_file():
        return StoredPhoto(final, digest, label, new=False)
    fd, temp_name = tempfile.mkstemp(prefix=".incoming-", suffix=suffix, dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            read_image(temp)  # the engine's own checks: header, structure, pixel limit, then a decode
        except InputError as error:
            raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                           error.one_line().replace(str(temp), f"photo {label!r}")) from None
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return StoredPhoto(final, digest, label, new=True)


def _suffix(data: bytes, label: str) -> str:
    """The picture format from the content itself (never from the name the client gave)."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            found = picture.format or ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        found = ""
    suffix = FORMAT_SUFFIXES.get(found)
    if suffix is None:
        what = f"a {found} file" if found else "not a picture"
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                       f"photo {label!r} is {what} — send a PNG, JPEG, WebP, BMP or TIFF photo of the face")
    return suffix
