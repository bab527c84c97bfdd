"""`POST /api/jobs`: the fields of `swapcast jobs add`, turned into a JobSpec by the code the CLI uses.

The request's options fill the same argparse namespace `swapcast jobs add` parses (its defaults
come from the CLI's own parser), and app.jobs.cli_options.spec_from_args + admission.check_runnable
check it exactly as they check the CLI's: what one front end refuses, the other refuses too.

Where files come from: uploads (stored by uploads.py under the server's folder) and, only with
`--allow-paths`, paths on the server inside those folders. The output goes to the server's own
folder, `<uploads>/outputs/<key>/`, under a name the client may choose (a bare file name), unless
it is an absolute path inside `--allow-paths`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.jobs.admission import check_runnable
from app.jobs.cli_options import add_swap_options, spec_from_args
from app.jobs.model import ENCODERS, JobSpec, is_remote_text
from engines.base import OFFLINE_FACE_SELECTIONS

from .envelope import ApiError, ErrorCode
from .paths_policy import allowed_path
from .uploads import StoredFile, UploadArea

DEFAULT_OUTPUT_STEM = "swapped"  # + the target's extension
_NAME = re.compile(r"^[\w][\w .+=,()\[\]-]{0,150}$")  # one file name: no folders, no leading dot


class JobRequest(BaseModel):
    """The options of `swapcast jobs add`. Paths (sources, targets, reference, an absolute output) are
    paths on the server and need `--allow-paths`; uploads come as multipart files instead."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(default_factory=list, description="server-side paths of source face photos")
    targets: list[str] = Field(default_factory=list, description="server-side paths of targets (files or folders)")
    reference: str | None = Field(None, description="server-side path of the reference face photo")
    source_url: list[str] = Field(
        default_factory=list, description="source face photo(s) to fetch: s3:// gs:// r2:// objects, or https:// "
                                          "URLs when the server runs with --allow-urls (a string or a list)")
    target_url: list[str] = Field(
        default_factory=list, description="target(s) to fetch: s3:// gs:// r2:// objects, or https:// URLs when the "
                                          "server runs with --allow-urls (a string or a list)")
    output: str | None = Field(
        None, description="output file name (no folders: stored in the server's folder; default 'swapped' + the "
                          "target's extension), an absolute path inside --allow-paths, or an object URI "
                          "(s3://bucket/key.mp4, gs://…, r2://…) the result is uploaded to")
    keep_local: bool = Field(False, description="with an object-URI output: keep the server's local render too")

    @field_validator("source_url", "target_url", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value
    faces: str | None = Field(None, description=f"one of {', '.join(m.value for m in OFFLINE_FACE_SELECTIONS)}")
    enhance: bool = False
    enhance_blend: float = Field(0.8, ge=0.0, le=1.0)
    source_face: int | None = Field(None, ge=0)
    trim: tuple[float, float] | None = Field(None, description="[START, END] seconds of a video target")
    quality: int | None = Field(None, ge=0, le=100)
    encoder: str = Field("auto", description=f"one of {', '.join(ENCODERS)}")
    audio: bool = True
    overwrite: bool = False


# In a multipart form, `source` / `target` / `reference` parts are files when they have a file name,
# server-side paths when they are text; the other fields are the JSON body's, as text.
FILE_FIELDS: tuple[str, ...] = ("source", "target", "reference")
_FORM_PATH_FIELDS = {"source": "sources", "target": "targets", "reference": "reference"}
_LIST_FIELDS = {"sources", "targets", "source_url", "target_url"}


def parse_json(body: bytes) -> JobRequest:
    try:
        return JobRequest.model_validate_json(body or b"{}")
    except ValidationError as error:
        raise invalid(error) from None


def parse_form(fields: dict[str, list[str]]) -> JobRequest:
    values: dict[str, Any] = {}
    for name, texts in fields.items():
        key = _FORM_PATH_FIELDS.get(name, name)
        if key in _LIST_FIELDS:
            values.setdefault(key, []).extend(texts)
        elif key == "trim":
            parts = [p for text in texts for p in re.split(r"[,\s]+", text.strip()) if p]
            values[key] = parts
        elif len(texts) > 1:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name}: given {len(texts)} times — send it once")
        else:
            values[key] = texts[0]
    try:
        return JobRequest.model_validate(values)
    except ValidationError as error:
        raise invalid(error) from None


def invalid(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "request"
    return ApiError(422, ErrorCode.INVALID_REQUEST,
                    f"{where}: {first.get('msg', 'invalid')} — see /docs for the fields of POST /api/jobs")


def _cli_defaults() -> argparse.Namespace:
    """`swapcast jobs add`'s options with their defaults, from the CLI's own parser."""
    parser = argparse.ArgumentParser(add_help=False)
    add_swap_options(parser, models_option=False)
    return parser.parse_args(["-s", "-", "-t", "-", "-o", "-"])


def build_spec(request: JobRequest, uploads: Sequence[StoredFile], area: UploadArea, key: str,
               allow_paths: Sequence[Path], *, allow_urls: bool = False) -> JobSpec:
    """The JobSpec to queue, checked as `swapcast jobs add` checks it (InputError / ModelError: 400)."""

    def server(raw: str, what: str) -> str:
        return str(allowed_path(raw, allow_paths, what))

    sources = [str(f.path) for f in uploads if f.field == "source"] + [server(s, "source") for s in request.sources]
    targets = [str(f.path) for f in uploads if f.field == "target"] + [server(t, "target") for t in request.targets]
    sources += [_remote(u, "source_url") for u in request.source_url]
    targets += [_remote(u, "target_url") for u in request.target_url]
    references = [str(f.path) for f in uploads if f.field == "reference"]
    if request.reference:
        references.append(server(request.reference, "reference"))
    if not sources or not targets:
        missing = "a source face photo" if not sources else "a target"
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"the job has no {missing} — send files as 'source' and 'target' (curl -F source=@face.jpg "
                       "-F target=@clip.mp4)")
    if len(references) > 1:
        raise ApiError(400, ErrorCode.INVALID_REQUEST, "more than one reference face — send one 'reference'")

    args = _cli_defaults()
    args.sources, args.targets = sources, targets
    args.reference = references[0] if references else None
    if request.output is not None and is_remote_text(request.output):
        args.output = request.output  # an object URI: checked (scheme, bucket, credentials) by spec_from_args
    else:
        if request.keep_local:
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           "'keep_local' applies only to an object-URI 'output' (s3://…) — leave it out")
        args.output = _output(request.output, area, key, allow_paths, several=_several_targets(targets))
    args.allow_urls, args.keep_local = allow_urls, request.keep_local
    args.faces, args.enhance, args.enhance_blend = request.faces, request.enhance, request.enhance_blend
    args.source_face, args.trim, args.quality = request.source_face, request.trim, request.quality
    args.encoder, args.audio, args.overwrite = request.encoder, request.audio, request.overwrite
    spec = spec_from_args(args)
    # A folder target is expanded to its files, each resolved: none may lead out of the allowed folders.
    for path in [*spec.sources, *spec.targets, *([spec.reference] if spec.reference else [])]:
        if is_remote_text(path):
            continue  # fetched into the job's folder when it runs
        if not area.owns(path):
            allowed_path(path, allow_paths, "input")
    check_runnable(spec)
    return spec


def _remote(text: str, what: str) -> str:
    if not is_remote_text(text):
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"'{what}' {text!r} is not a URL — give https://… or s3:// / gs:// / r2://…; server-side "
                       "paths go in 'sources' / 'targets'")
    return text


def _several_targets(targets: list[str]) -> bool:
    return len(targets) > 1 or any(not is_remote_text(t) and Path(t).is_dir() for t in targets)


def _output(raw: str | None, area: UploadArea, key: str, allow_paths: Sequence[Path], *, several: bool) -> str:
    if raw is not None and Path(raw).is_absolute():
        return str(allowed_path(raw, allow_paths, "output"))
    folder = area.outputs(key)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if several:
        if raw:
            raise ApiError(400, ErrorCode.INVALID_REQUEST,
                           "'output' names one file, and this job has several targets — leave it out: each "
                           "output keeps its target's name")
        return str(folder) + "/"
    name = raw if raw is not None else DEFAULT_OUTPUT_STEM
    if not _NAME.match(name) or ".." in name:
        raise ApiError(400, ErrorCode.INVALID_REQUEST,
                       f"'output' {name!r} is not a plain file name — give a name like result.mp4 (no folders); "
                       "the server chooses where it is stored")
    return str(folder / name)
