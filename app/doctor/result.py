"""What one doctor check found, and the context every check reads."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Literal

from app.paths import UserPaths, user_paths

Status = Literal["ok", "warn", "fail"]
LIVE = "live"
OFFLINE = "offline"
BOTH: frozenset[str] = frozenset({LIVE, OFFLINE})
ONLY_LIVE: frozenset[str] = frozenset({LIVE})
ONLY_OFFLINE: frozenset[str] = frozenset({OFFLINE})


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    summary: str
    fix: str | None = None
    needed_for: frozenset[str] = frozenset()  # "live" / "offline": a failure here stops that work
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.status == "fail" and bool(self.needed_for)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            "needed_for": sorted(self.needed_for),
            "details": jsonable(self.details),
        }


def jsonable(value: Any) -> Any:
    """Details hold dataclasses, paths and sets; JSON wants dicts, strings and lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@dataclass(frozen=True)
class DoctorContext:
    paths: UserPaths
    models_override: Path | None = None  # --models DIR / SWAPCAST_MODELS
    root: Path = Path("/")  # where /sys, /dev, /proc are (tests point it at a fake tree)
    system: str = field(default_factory=platform.system)

    @classmethod
    def default(cls, models_override: Path | None = None) -> "DoctorContext":
        return cls(paths=user_paths(), models_override=models_override)


def setup_script(system: str) -> str:
    return "setup_virtual_env.bat" if system == "Windows" else "./setup_virtual_env.sh"
