"""Storage profiles: `storage.json` in the settings folder, checked against resources/storage.schema.json.

    {"profiles": {"renders": {"kind": "r2", "account_id": "…", "bucket": "renders", "prefix": "out/",
                              "presign_expiry_s": 86400}}}

A profile names where objects go (kind s3 / r2 / gcs / local, bucket, prefix, endpoint, region) and
where the credentials come from — never the credentials themselves: the provider's standard environment
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or a profile of the standard
AWS credentials file (`credentials_profile`). Nothing here is ever written to a job row, a log or an
API answer beyond the profile's name, kind, bucket, prefix and endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from app.paths import user_paths
from engines.errors import InputError
from engines.external.config import describe
from engines.external.schema import SchemaChecker
from engines.json_file import read_json
from engines.resources import resources_dir

STORAGE_FILE = "storage.json"
SCHEMA_FILE = "storage.schema.json"
GCS_XML_ENDPOINT = "https://storage.googleapis.com"


class StorageKind(str, Enum):
    S3 = "s3"
    R2 = "r2"
    GCS = "gcs"
    LOCAL = "local"


class StorageConfigError(InputError):
    """storage.json is missing a field, has a wrong one, or names a profile that is not there."""


@dataclass(frozen=True)
class StorageProfile:
    name: str
    kind: StorageKind
    bucket: str = ""
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    account_id: str | None = None
    credentials_profile: str | None = None  # a profile of ~/.aws/credentials; None: the environment
    presign_expiry_s: int | None = None
    allow_http: bool = False
    path: Path | None = None  # kind local

    def resolved_endpoint(self) -> str | None:
        """The S3 API's base URL: the profile's, R2's account endpoint, GCS's XML API, or None (AWS)."""
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if self.kind is StorageKind.R2 and self.account_id:
            return f"https://{self.account_id}.r2.cloudflarestorage.com"
        if self.kind is StorageKind.GCS:
            return GCS_XML_ENDPOINT
        return None

    def resolved_region(self) -> str | None:
        if self.region:
            return self.region
        if self.kind is StorageKind.R2:
            return "auto"  # what R2 expects in the signature
        if self.kind is StorageKind.GCS:
            return "auto"
        return None

    def describe_credentials(self) -> str:
        """Where the credentials come from, for `storage list` (never the values)."""
        if self.kind is StorageKind.LOCAL:
            return "none (a folder)"
        if self.credentials_profile:
            return f"AWS credentials file, profile '{self.credentials_profile}'"
        return "environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"

    def public_dict(self) -> dict[str, Any]:
        """What may be shown anywhere: no secret is ever part of a profile."""
        return {"name": self.name, "kind": self.kind.value, "bucket": self.bucket, "prefix": self.prefix,
                "endpoint": self.resolved_endpoint(), "region": self.resolved_region(),
                "presign_expiry_s": self.presign_expiry_s, "path": str(self.path) if self.path else None,
                "credentials": self.describe_credentials()}


def storage_path() -> Path:
    return user_paths().settings / STORAGE_FILE


def schema_path() -> Path:
    return resources_dir() / SCHEMA_FILE


def _fix(path: Path) -> str:
    return f"edit {path} (see docs/STORAGE.md)"


def parse_profiles(data: Any, source: Path) -> dict[str, StorageProfile]:
    """Every profile of a parsed storage.json; StorageConfigError (one line) for the first problem."""
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    problems = SchemaChecker(schema).problems(data)
    if problems:
        first = problems[0]
        path = first.path
        if len(path) >= 2 and path[0] == "profiles":
            rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[2:]).lstrip(".")
            where = f"profile '{path[1]}': {rest} " if rest else f"profile '{path[1]}' "
            text = where + first.message
        else:
            text = describe(first)
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise StorageConfigError(f"{source.name}: {text}{more}", _fix(source))
    profiles: dict[str, StorageProfile] = {}
    for name, entry in data["profiles"].items():
        kind = StorageKind(entry["kind"])
        rule = _rule_problem(kind, entry)
        if rule:
            raise StorageConfigError(f"{source.name}: profile '{name}': {rule}", _fix(source))
        profiles[name] = StorageProfile(
            name=name, kind=kind, bucket=entry.get("bucket", ""), prefix=entry.get("prefix", ""),
            endpoint=entry.get("endpoint"), region=entry.get("region"), account_id=entry.get("account_id"),
            credentials_profile=entry.get("credentials_profile"), presign_expiry_s=entry.get("presign_expiry_s"),
            allow_http=bool(entry.get("allow_http", False)),
            path=Path(entry["path"]).expanduser() if "path" in entry else None)
    return profiles


def _rule_problem(kind: StorageKind, entry: dict[str, Any]) -> str | None:
    """What the schema cannot say: which fields each kind needs."""
    if kind is StorageKind.LOCAL:
        if "path" not in entry:
            return "path is missing (required for kind \"local\": the folder objects go to)"
        if "bucket" in entry or "endpoint" in entry:
            return "kind \"local\" takes path, not bucket or endpoint"
        return None
    if "bucket" not in entry:
        return f"bucket is missing (required for kind \"{kind.value}\")"
    if "path" in entry:
        return f"path is only for kind \"local\"; kind \"{kind.value}\" takes bucket (and prefix)"
    if kind is StorageKind.R2 and "account_id" not in entry and "endpoint" not in entry:
        return "kind \"r2\" needs account_id (or endpoint: https://ACCOUNT_ID.r2.cloudflarestorage.com)"
    return None


def load_profiles(path: Path | None = None) -> dict[str, StorageProfile]:
    """The profiles of storage.json; none when the file does not exist (s3:// still works from the env)."""
    path = path or storage_path()
    try:
        data = read_json(path, StorageConfigError, _fix(path))
    except FileNotFoundError:
        return {}
    return parse_profiles(data, path)


def get_profile(name: str, path: Path | None = None) -> StorageProfile:
    path = path or storage_path()
    profiles = load_profiles(path)
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles)) or "none"
        raise StorageConfigError(f"no storage profile named '{name}' (known: {known})",
                                 f"add it to {path} — see `swapcast storage list`") from None
