"""Where the engine settings (integrations.json) come from, in order: SWAPCAST_INTEGRATIONS=FILE,
<settings>/integrations.json, the shipped resources/integrations.json.

Apart from cache.py (engines, manager, allocator), so a reader of the settings alone — `jobs add`'s
admission check — does not import the engine machinery.
"""

from __future__ import annotations

import os
from pathlib import Path

from engines.external.config import IntegrationsConfig, default_integrations_path, load_integrations

from app.paths import user_paths

INTEGRATIONS_ENV = "SWAPCAST_INTEGRATIONS"


def integrations_path() -> Path:
    env = os.environ.get(INTEGRATIONS_ENV)
    if env:
        return Path(env).expanduser()
    user_file = user_paths().settings / "integrations.json"
    return user_file if user_file.is_file() else default_integrations_path()


def load_config() -> IntegrationsConfig:
    return load_integrations(integrations_path())
