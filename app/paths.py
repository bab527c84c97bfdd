"""Where SwapCast keeps its files: models, jobs database, logs, settings.

platformdirs gives each OS its usual places; SWAPCAST_HOME=DIR puts everything under DIR
(tests, portable installs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "SwapCast"
HOME_ENV = "SWAPCAST_HOME"
MODELS_ENV = "SWAPCAST_MODELS"


@dataclass(frozen=True)
class UserPaths:
    models: Path
    data: Path
    logs: Path
    settings: Path
    cache: Path

    @property
    def jobs_db(self) -> Path:
        return self.data / "jobs.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.settings / "settings.json"

    def all(self) -> dict[str, Path]:
        return {
            "models": self.models,
            "data": self.data,
            "logs": self.logs,
            "settings": self.settings,
            "cache": self.cache,
        }

    def ensure(self) -> "UserPaths":
        for path in self.all().values():
            path.mkdir(parents=True, exist_ok=True)
        return self


def user_paths(environ: dict[str, str] | None = None) -> UserPaths:
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        return UserPaths(
            models=root / "models",
            data=root / "data",
            logs=root / "logs",
            settings=root / "settings",
            cache=root / "cache",
        )
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return UserPaths(
        models=Path(dirs.user_data_dir) / "models",
        data=Path(dirs.user_data_dir),
        logs=Path(dirs.user_log_dir),
        settings=Path(dirs.user_config_dir),
        cache=Path(dirs.user_cache_dir),
    )
