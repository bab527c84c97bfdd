"""The model catalog (resources/models.json) and the test kit's manifest.json: one format.

```json
{"format": 1, "models": [
  {"id": "inswapper_128", "role": "swapper", "file": "inswapper_128.onnx",
   "urls": ["https://primary...", "https://mirror..."], "sha256": "<64 hex>" | null,
   "sha256_note": "why there is no hash (required when sha256 is null and urls are given)",
   "size": 554253681, "license": "...", "default": true,
   "contract": {"inputs": "...", "outputs": "..."}, "description": "...",
   "archive": {"urls": ["https://.../pack.zip"], "member": "det_10g.onnx",
               "sha256": "<hash of the zip>" | null, "size": 123},
   "publisher_hash": {"algorithm": "crc32", "url_suffix": ".hash"}}
]}
```

`sha256` and `size` always describe the model file itself. `archive` is optional: zip files that
contain the model, tried after the direct `urls`; `"url_is_zip": true` (with no `urls` of its own)
says the entry's `urls` are themselves zips. `publisher_hash` (for entries with no pinned sha256): the
publisher's checksum sidecar beside each URL (the file's extension replaced by `url_suffix`), which
a first download must match before its sha256 is recorded (trust on first use). Unknown keys are
ignored, so a newer file still loads. Every problem is reported as one line naming the file and the entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import ModelError

# What the built-in engine cannot run without, and what it can.
REQUIRED_ROLES: tuple[str, ...] = ("detector", "recognizer", "swapper")
OPTIONAL_ROLES: tuple[str, ...] = ("enhancer", "lip_syncer")

from .hashing import SHA256_RE

FORMAT_VERSION = 1
ROLES: tuple[str, ...] = ("detector", "recognizer", "swapper", "enhancer", "lip_syncer")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ArchiveSpec:
    """Zip files that contain the model as `member`; `sha256`/`size` describe the zip."""

    urls: tuple[str, ...]
    member: str
    sha256: str | None = None
    size: int | None = None


PUBLISHER_HASH_ALGORITHMS: tuple[str, ...] = ("crc32",)  # FaceFusion's `.hash` sidecars


@dataclass(frozen=True)
class PublisherHash:
    """A checksum the publisher serves beside each file (FaceFusion: NAME.hash holding its CRC32)."""

    algorithm: str
    url_suffix: str

    def sidecar_url(self, url: str) -> str:
        """`https://host/dir/name.onnx` → `https://host/dir/name.hash`."""
        folder, _, name = url.rpartition("/")
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return f"{folder}/{stem}{self.url_suffix}"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    role: str
    file: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    license: str
    default: bool
    contract: dict = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    sha256_note: str | None = None
    archive: ArchiveSpec | None = None
    provenance: str = ""
    publisher_hash: PublisherHash | None = None

    @property
    def pinned(self) -> bool:
        """Whether the catalog itself fixes the file's sha256 (else it is recorded at first download)."""
        return self.sha256 is not None

    @property
    def all_urls(self) -> tuple[str, ...]:
        """Every URL a download may try, direct files first, then archives."""
        return self.urls + (self.archive.urls if self.archive else ())


def load_catalog(path: Path) -> list[ModelSpec]:
    """Read and validate a catalog or manifest file; ModelError (one line) on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model catalog {path} does not exist") from None
    except OSError as error:
        raise ModelError(f"cannot read model catalog {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    return parse_catalog(data, source=str(path))


def parse_catalog(data: Any, source: str = "catalog") -> list[ModelSpec]:
    if not isinstance(data, dict):
        raise ModelError(f"{source}: the top level must be a JSON object with \"format\" and \"models\"")
    if data.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"{source}: unsupported \"format\" {data.get('format')!r} (this SwapCast reads format {FORMAT_VERSION})"
        )
    entries = data.get("models")
    if not isinstance(entries, list):
        raise ModelError(f"{source}: \"models\" must be a list")
    specs: list[ModelSpec] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        spec = _parse_entry(entry, index, source)
        if spec.id in seen:
            raise ModelError(f"{source}: model {spec.id!r} is listed twice (entries {seen[spec.id]} and {index})")
        seen[spec.id] = index
        specs.append(spec)
    _check_defaults(specs, source)
    return specs


def _parse_entry(entry: Any, index: int, source: str) -> ModelSpec:
    where = f"{source}: model #{index}"
    if not isinstance(entry, dict):
        raise ModelError(f"{where}: each entry must be a JSON object")
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not _ID_RE.match(model_id):
        raise ModelError(f"{where}: \"id\" must be a non-empty name of letters, digits, '_', '.', '-' (got {model_id!r})")
    where = f"{source}: model {model_id!r}"

    def fail(message: str) -> ModelError:
        return ModelError(f"{where}: {message}")

    role = entry.get("role")
    if role not in ROLES:
        raise fail(f"\"role\" must be one of {', '.join(ROLES)} (got {role!r})")
    file_name = entry.get("file")
    if not isinstance(file_name, str) or not _is_plain_file_name(file_name):
        # A bare name only: a catalog must never make us write outside the models folder.
        raise fail(f"\"file\" must be a plain file name without folders (got {file_name!r})")
    urls = _parse_urls(entry.get("urls", []), fail, "urls")
    sha256 = _parse_sha256(entry.get("sha256"), fail, "sha256")
    sha256_note = entry.get("sha256_note")
    if sha256_note is not None and not isinstance(sha256_note, str):
        raise fail("\"sha256_note\" must be a string")
    size = _parse_size(entry.get("size"), fail, "size")
    license_text = entry.get("license", "")
    if not isinstance(license_text, str):
        raise fail("\"license\" must be a string")
    default = entry.get("default", False)
    if not isinstance(default, bool):
        raise fail("\"default\" must be true or false")
    contract = entry.get("contract", {})
    if not isinstance(contract, dict):
        raise fail("\"contract\" must be an object")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise fail("\"description\" must be a string")
    provenance = entry.get("provenance", "")
    if not isinstance(provenance, str):
        raise fail("\"provenance\" must be a string")

    archive = None
    if entry.get("archive") is not None:
        archive, urls = _parse_archive(entry["archive"], urls, fail)
    if sha256 is None and (urls or archive) and not (sha256_note and sha256_note.strip()):
        raise fail("\"sha256\" is null: add a \"sha256_note\" saying why no published hash exists")
    publisher_hash = _parse_publisher_hash(entry.get("publisher_hash"), fail)
    return ModelSpec(
        id=model_id,
        role=role,
        file=file_name,
        urls=urls,
        sha256=sha256,
        size=size,
        license=license_text,
        default=default,
        contract=dict(contract),
        description=description,
        sha256_note=sha256_note,
        archive=archive,
        provenance=provenance,
        publisher_hash=publisher_hash,
    )


def _parse_publisher_hash(value: Any, fail: Any) -> PublisherHash | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail("\"publisher_hash\" must be an object")
    algorithm, suffix = value.get("algorithm"), value.get("url_suffix")
    if algorithm not in PUBLISHER_HASH_ALGORITHMS:
        known = ", ".join(PUBLISHER_HASH_ALGORITHMS)
        raise fail(f"\"publisher_hash.algorithm\" must be one of {known} (got {algorithm!r})")
    if not isinstance(suffix, str) or not suffix.startswith(".") or "/" in suffix:
        raise fail(f"\"publisher_hash.url_suffix\" must be a file extension such as \".hash\" (got {suffix!r})")
    return PublisherHash(algorithm, suffix)


def _parse_archive(value: Any, urls: tuple[str, ...], fail: Any) -> tuple[ArchiveSpec, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise fail("\"archive\" must be an object")
    member = value.get("member")
    if not isinstance(member, str) or not member or member.startswith("/") or ".." in member.split("/"):
        raise fail(f"\"archive.member\" must be a relative path inside the zip (got {member!r})")
    url_is_zip = value.get("url_is_zip", False)
    if not isinstance(url_is_zip, bool):
        raise fail("\"archive.url_is_zip\" must be true or false")
    if "urls" in value:
        archive_urls = _parse_urls(value["urls"], fail, "archive.urls")
    elif url_is_zip:
        # The entry's own URLs serve the zip: move them over so direct downloads skip them.
        archive_urls, urls = urls, ()
    else:
        raise fail("\"archive\" needs \"urls\", or \"url_is_zip\": true when the entry's urls are zips")
    if not archive_urls:
        raise fail("\"archive\" has no URLs")
    archive = ArchiveSpec(
        urls=archive_urls,
        member=member,
        sha256=_parse_sha256(value.get("sha256"), fail, "archive.sha256"),
        size=_parse_size(value.get("size"), fail, "archive.size"),
    )
    return archive, urls


def _parse_urls(value: Any, fail: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise fail(f"\"{key}\" must be a list of URL strings")
    for url in value:
        if not (url.startswith("https://") or url.startswith("http://")) or any(c.isspace() for c in url):
            raise fail(f"\"{key}\" has an entry that is not an http(s) URL: {url!r}")
    return tuple(value)


def _parse_sha256(value: Any, fail: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        raise fail(f"\"{key}\" must be 64 hex characters or null (got {value!r})")
    return value.lower()


def _parse_size(value: Any, fail: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(f"\"{key}\" must be a whole number of bytes or null (got {value!r})")
    return value


def _is_plain_file_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and not name.startswith(".")


def _check_defaults(specs: list[ModelSpec], source: str) -> None:
    for role in ROLES:
        in_role = [spec for spec in specs if spec.role == role]
        defaults = [spec.id for spec in in_role if spec.default]
        if len(defaults) > 1:
            raise ModelError(f"{source}: role {role!r} has {len(defaults)} defaults ({', '.join(defaults)}); mark exactly one \"default\": true")
        if not defaults and len(in_role) > 1:
            names = ", ".join(spec.id for spec in in_role)
            raise ModelError(f"{source}: role {role!r} has no default; mark exactly one of {names} \"default\": true")


def default_for(specs: list[ModelSpec], role: str) -> ModelSpec | None:
    """The role's default; a role with a single model needs no explicit flag."""
    in_role = [spec for spec in specs if spec.role == role]
    for spec in in_role:
        if spec.default:
            return spec
    return in_role[0] if len(in_role) == 1 else None
