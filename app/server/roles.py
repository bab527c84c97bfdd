"""Token roles: what each kind of client may do."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    VIEWER = "viewer"  # read-only: status, jobs, sources, events, preview
    OPERATOR = "operator"  # + jobs (add, cancel, retry, delete) and live control
    ADMIN = "admin"  # everything (tokens, settings)

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown role {text!r} — use one of: {', '.join(r.value for r in cls)}") from None


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
