"""Reading a settings file written in JSON (integrations.json, storage.json) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engines.errors import SwapCastError


def read_json(path: Path, error: type[SwapCastError], fix: str) -> Any:
    """The parsed file. A missing file raises FileNotFoundError as it is (what that means is the
    caller's to say); unreadable or invalid JSON raises `error` naming the file, the place and `fix`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as problem:
        raise error(f"{path}: cannot read ({problem.strerror or problem})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(f"{path}: not valid JSON (line {problem.lineno}, column {problem.colno}: {problem.msg})",
                    fix) from None
