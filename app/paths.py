"""Where SwapCast keeps its files: models, jobs database, logs, settings, and where it saves outputs.

platformdirs gives each OS its usual places; SWAPCAST_HOME=DIR puts everything under DIR
(tests, portable installs) — outputs too: nothing is written into the real home then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
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
    # Where recordings and the studio's job outputs go unless the user picks a folder. Not in all():
    # it is created when something is first saved there, not by ensure() or the doctor.
    outputs: Path

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
        for name in self.all():
            self.create(name)
        return self

    def create(self, name: str) -> Path:
        """Make one of all()'s folders if missing. All but models are owner-only: they hold the queue,
        tokens, the face gallery and logs full of paths; users copy model files in by hand."""
        path = self.all()[name]
        if name == "models":
            path.mkdir(parents=True, exist_ok=True)
        else:
            make_private_folder(path)
        return path


FOLDER_MODE = 0o700


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) owner-only; an existing one is left as it is (it may be
    shared on purpose)."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            parent.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it first
        parent.chmod(FOLDER_MODE)  # mkdir's mode is filtered by the umask


def user_paths(environ: Mapping[str, str] | None = None) -> UserPaths:
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
            outputs=root / "outputs",
        )
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return UserPaths(
        models=Path(dirs.user_data_dir) / "models",
        data=Path(dirs.user_data_dir),
        logs=Path(dirs.user_log_dir),
        settings=Path(dirs.user_config_dir),
        cache=Path(dirs.user_cache_dir),
        outputs=Path.home() / APP_NAME,  # ~/SwapCast: where people look for their videos
    )


def keep_library_caches_under_home(environ: MutableMapping[str, str] | None = None) -> None:
    """Under SWAPCAST_HOME, the caches of the libraries we run go there too: onnxruntime (and Qt's
    font cache) write under $XDG_CACHE_HOME, else ~/.cache. Call once, before they load; an
    XDG_CACHE_HOME the user set wins."""
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV) and not env.get("XDG_CACHE_HOME"):
        env["XDG_CACHE_HOME"] = str(user_paths(dict(env)).cache / "libraries")
