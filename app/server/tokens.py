"""API tokens: generated, kept in the settings folder with owner-only permissions, compared in constant time.

The file holds only each token's SHA-256 (a stolen settings file does not give a working token), its
id, role and creation time. The plain token is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from app.private_file import write_private_text

from engines.errors import InputError

from .roles import Role

TOKEN_PREFIX = "sc_"
TOKENS_FILE = "tokens.json"  # in the settings folder, beside settings.json


def tokens_path(settings_folder: Path | None = None) -> Path:
    """Where the server and `swapcast tokens` keep the tokens (the user's settings folder by default)."""
    if settings_folder is None:
        from app.paths import user_paths

        settings_folder = user_paths().settings
    return settings_folder / TOKENS_FILE


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: Role
    digest: str  # sha256 of the token, hex
    created_at: float
    label: str = ""


class TokenStore:
    """The tokens of one server (file: `tokens.json` in the settings folder, 0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else tokens_path()
        self._lock = threading.Lock()

    # ---- reading ----------------------------------------------------------------------------------
    def records(self) -> list[TokenRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read the token file {self.path}: {error}",
                             "delete it and create tokens again with `swapcast tokens create`") from error
        return [TokenRecord(id=r["id"], role=Role(r["role"]), digest=r["digest"], created_at=r["created_at"],
                            label=r.get("label", "")) for r in raw.get("tokens", [])]

    def verify(self, token: str) -> TokenRecord | None:
        """The record of `token`, or None. Every record is compared (constant time per record)."""
        digest = _digest(token)
        found = None
        for record in self.records():
            if hmac.compare_digest(record.digest, digest):
                found = record
        return found

    # ---- changing ---------------------------------------------------------------------------------
    def create(self, role: Role, label: str = "") -> tuple[TokenRecord, str]:
        """A new token: (its record, the plain token — shown once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(id=secrets.token_hex(4), role=role, digest=_digest(token), created_at=time.time(),
                             label=label)
        with self._lock:
            self._write([*self.records(), record])
        return record, token

    def revoke(self, token_id: str) -> TokenRecord:
        with self._lock:
            records = self.records()
            kept = [r for r in records if r.id != token_id]
            if len(kept) == len(records):
                raise InputError(f"no token with id {token_id}", "list them with `swapcast tokens list`")
            self._write(kept)
        return next(r for r in records if r.id == token_id)

    def ensure_admin(self) -> str | None:
        """On first start: create an admin token and return it (to print once); None when tokens exist."""
        if self.records():
            return None
        _, token = self.create(Role.ADMIN, "created by the first `swapcast serve`")
        return token

    def _write(self, records: list[TokenRecord]) -> None:
        body = json.dumps({"tokens": [{**asdict(r), "role": r.role.value} for r in records]}, indent=1)
        write_private_text(self.path, body)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
