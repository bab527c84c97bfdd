"""Files that come over HTTP, and the server-side paths a client may name.

Uploads: a multipart body is parsed as it arrives (python-multipart's streaming parser) and each file
part goes straight to disk, in chunks, under the server's own folder — never into memory, never under
a name the client chose. The request body is counted as it streams: past `max_bytes` the request ends
with 413 at once and the partial files are removed (a Content-Length over the limit is refused before
a byte is read). Once stored, every file's real format is read from its bytes — a picture by its
header (Pillow, with SwapCast's pixel limit), a video by probing it (PyAV) — app.media.sniff — and it
is renamed `<uuid><real extension>`. A file that is neither (a text file named .mp4) is 415.

Server-side paths are off unless the server was started with `--allow-paths DIR`; then a path must
resolve (symlinks followed, `..` collapsed) inside one of those folders (403 path_not_allowed).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from app.media.sniff import MediaKind, Sniffed, sniff_media
from engines.errors import InputError

from .envelope import ApiError, ErrorCode

MAX_TEXT_BYTES = 64 * 1024  # all text fields of one form together: options, never data
MAX_FILES = 64  # file parts in one request
_CHUNK_WRITE = 1 << 20  # buffer this much of a part before one write (fewer thread hops)


@dataclass(frozen=True)
class StoredFile:
    """One uploaded file, checked and stored under its generated name."""

    field: str  # the form field it came in ("source", "target", ...)
    path: Path  # <folder>/<uuid><real extension>
    kind: MediaKind
    client_name: str  # as the client called it: for messages only, never for a path


@dataclass
class ReceivedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)  # text parts, by name, in order
    files: list[StoredFile] = field(default_factory=list)

    def files_of(self, name: str) -> list[StoredFile]:
        return [f for f in self.files if f.field == name]


# ---- the server's own folder --------------------------------------------------------------------


class UploadArea:
    """`<uploads>/inputs/<key>/` holds one request's uploaded files, `<uploads>/outputs/<key>/` the
    outputs of its job. A key is a fresh uuid per request; nothing in a path comes from a client."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    def inputs(self, key: str) -> Path:
        return self.root / "inputs" / key

    def outputs(self, key: str) -> Path:
        return self.root / "outputs" / key

    def owns(self, path: str | Path) -> bool:
        return Path(path).resolve().is_relative_to(self.root.resolve())

    def folders_of(self, paths: Iterable[str | Path]) -> set[Path]:
        """The request folders (inputs/<key>, outputs/<key>) that hold any of `paths`."""
        root = self.root.resolve()
        found = set()
        for raw in paths:
            path = Path(raw).resolve()
            if path.is_relative_to(root):
                parts = path.relative_to(root).parts
                if len(parts) >= 2 and parts[0] in ("inputs", "outputs"):
                    found.add(root / parts[0] / parts[1])
        return found

    def remove_request(self, key: str) -> None:
        for folder in (self.inputs(key), self.outputs(key)):
            shutil.rmtree(folder, ignore_errors=True)

    def remove(self, paths: Iterable[str | Path]) -> list[Path]:
        """Delete the request folders holding any of `paths` (files outside the area are never touched)."""
        removed = []
        for folder in sorted(self.folders_of(paths)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        return removed


# ---- receiving a multipart body -----------------------------------------------------------------


def check_declared_size(request: Request, max_bytes: int) -> None:
    """413 before reading anything when the client says the body is over the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise too_large(int(declared), max_bytes)


async def read_small_body(request: Request, max_bytes: int, too_large_message: str) -> bytes:
    """A body of a few fields (JSON, a urlencoded form), refused with 413 (`too_large_message`) past `max_bytes`."""
    check_declared_size(request, max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, ErrorCode.TOO_LARGE, too_large_message)
    return bytes(body)


def too_large(size: int | None, max_bytes: int) -> ApiError:
    said = f" (this one: {_mb(size)})" if size is not None else ""
    return ApiError(413, ErrorCode.TOO_LARGE,
                    f"the upload is over the server's limit of {_mb(max_bytes)}{said} — send a smaller file, or "
                    "start the server with a higher --max-upload-mb")


def _mb(size: int) -> str:
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{size} bytes"


@dataclass(eq=False)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    client_name: str | None = None  # set for a file part
    content_type: str = ""
    text: bytearray = field(default_factory=bytearray)
    path: Path | None = None
    handle: IO[bytes] | None = None
    pending: bytearray = field(default_factory=bytearray)
    ended: bool = False  # its closing boundary was parsed
    done: bool = False  # ended and on disk


class _FormReader:
    """python-multipart callbacks: they only collect; the async loop does the disk writes."""

    def __init__(self, folder: Path, file_fields: frozenset[str]) -> None:
        self.folder = folder
        self.file_fields = file_fields
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.text_bytes = 0
        self.parts: list[_Part] = []

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        part = self.part
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           "a form part has no name — send fields as multipart/form-data (curl -F name=value)")
        part.name = options[b"name"].decode("utf-8", "replace")
        part.content_type = part.headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if b"filename" in options:
            part.client_name = Path(options[b"filename"].decode("utf-8", "replace").replace("\\", "/")).name
            if part.name not in self.file_fields:
                raise ApiError(400, ErrorCode.INVALID_REQUEST,
                               f"a file was sent as '{part.name}' — files go in "
                               f"{' / '.join(sorted(self.file_fields))}")
            if sum(1 for p in self.parts if p.client_name is not None) >= MAX_FILES:
                raise ApiError(400, ErrorCode.INVALID_REQUEST, f"more than {MAX_FILES} files in one request — "
                               "send fewer, or queue several jobs")
            check_declared_type(part.content_type, part.client_name or part.name)
            # The bytes go to <uuid>.part first; the real extension comes after the format is read.
            part.path = self.folder / f"{uuid.uuid4().hex}.part"
        self.parts.append(part)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.client_name is None:
            self.text_bytes += end - start
            if self.text_bytes > MAX_TEXT_BYTES:
                raise ApiError(413, ErrorCode.TOO_LARGE, f"the form's text fields are over {MAX_TEXT_BYTES} bytes — "
                               "send options only; files go in file parts")
            self.part.text += data[start:end]
        else:
            self.part.pending += data[start:end]

    def on_part_end(self) -> None:
        self.part.ended = True


_MEDIA_TYPES = ("image/", "video/")
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def check_declared_type(content_type: str, name: str) -> None:
    """The part's own Content-Type must at least claim a picture or a video (or say nothing)."""
    if content_type in _GENERIC_TYPES or content_type.startswith(_MEDIA_TYPES):
        return
    raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                   f"{name} was sent as {content_type}, not a picture or a video — upload an image "
                   "(.png, .jpg…) or a video (.mp4, .mov, .mkv…)")


async def receive_form(request: Request, folder: Path, *, max_bytes: int,
                       file_fields: Sequence[str]) -> ReceivedForm:
    """Parse a multipart/form-data body: text fields kept, files stored under `folder`, checked and
    renamed (see the module's text). On any error `folder` is removed and the ApiError raised."""
    check_declared_size(request, max_bytes)
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       "multipart body without a boundary — let the HTTP client build the form (curl -F, httpx files=)")
    reader = _FormReader(folder, frozenset(file_fields))
    callbacks = {name: getattr(reader, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise too_large(None, max_bytes)
            try:
                parser.write(chunk)
            except MultipartParseError as error:
                raise _malformed(error) from None
            await _flush(reader, final=False)
        try:
            parser.finalize()
        except MultipartParseError as error:
            raise _malformed(error) from None
        await _flush(reader, final=True)
        if not all(part.ended for part in reader.parts):
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           "the form ended in the middle of a part — send the whole body (was the upload cut off?)")
        form = ReceivedForm()
        for part in reader.parts:
            if part.client_name is None:
                form.fields.setdefault(part.name, []).append(part.text.decode("utf-8", "replace"))
        for part in reader.parts:
            if part.path is not None and part.client_name is not None:
                form.files.append(await run_in_threadpool(store_checked, part.path, part.name, part.client_name,
                                                          part.content_type))
        return form
    except BaseException:
        _close_all(reader)
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _malformed(error: Exception) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_REQUEST,
                    f"the multipart body cannot be parsed ({error}) — let the HTTP client build the form")


async def _flush(reader: _FormReader, *, final: bool) -> None:
    for part in reader.parts:
        if part.path is None or part.done:
            continue
        if part.pending and (final or part.ended or len(part.pending) >= _CHUNK_WRITE):
            data, part.pending = bytes(part.pending), bytearray()
            await run_in_threadpool(_append, part, data)
        if part.ended:
            if part.handle is not None:
                part.handle.close()
            else:
                part.path.touch()  # an empty file: the format check names it
            part.done = True


def _append(part: _Part, data: bytes) -> None:
    if part.handle is None:
        part.handle = part.path.open("wb")  # type: ignore[union-attr]
    part.handle.write(data)


def _close_all(reader: _FormReader) -> None:
    for part in reader.parts:
        if part.handle is not None and not part.handle.closed:
            part.handle.close()


# ---- what a stored file really is ----------------------------------------------------------------


def sniff(path: Path, client_name: str) -> Sniffed:
    """What `path` holds, from its bytes (app.media.sniff); ApiError 415 (one line, the client's file name)
    if nothing usable."""
    try:
        return sniff_media(path, client_name)
    except InputError as error:
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA, error.one_line()) from None


def store_checked(path: Path, field_name: str, client_name: str, content_type: str) -> StoredFile:
    """Read the real format of an uploaded file, check it against what the part declared, and give it
    its final name: `<uuid><real extension>` beside it."""
    found = sniff(path, client_name)
    declared = content_type.split("/")[0] if content_type not in _GENERIC_TYPES else ""
    # A GIF is a picture to browsers (image/gif) and an animation (a video target) to SwapCast.
    if declared and declared != found.kind.value and found.extension != ".gif":
        raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA,
                       f"{client_name} was sent as {content_type} but holds a {found.kind.value} — send it with "
                       "its real type (or application/octet-stream)")
    final = path.with_name(f"{uuid.uuid4().hex}{found.extension}")
    path.rename(final)
    return StoredFile(field=field_name, path=final, kind=found.kind, client_name=client_name)

