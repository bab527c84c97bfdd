"""Who sees the server's own paths: an admin token (the server's owner) does; operators and viewers are
remote clients, and every local path in what they are sent is reduced to its file name (job_views.py
for jobs; live_view for the live session's state, stats and outputs). URLs and object URIs are not
server paths and are left as they are, less what grants access (public_name).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.jobs.model import is_remote_text
from app.storage.uri import masked_url

from .roles import Role

# An absolute POSIX path in a message, replaced by its last part: a quoted one whole (spaces and all),
# else up to a space or a quote, never inside a URL (`https://h/a`: each slash follows ':', '/' or a word).
_QUOTED_PATH = re.compile(r"(['\"])/[^'\"\n]*/([^'\"/\n]+)\1")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"]+/)+([^\s/'\"]+)")


def sees_paths(role: Role) -> bool:
    return role is Role.ADMIN


def public_text(text: str | None, known: tuple[str, ...] = ()) -> str | None:
    """`text` with every local path reduced to its file name (`known`: exact paths first, longest first,
    so a path with spaces in it goes whole)."""
    if not text:
        return text
    for path in sorted(known, key=len, reverse=True):
        text = text.replace(path, Path(path).name)
    return _ABSOLUTE_PATH.sub(r"\1", _QUOTED_PATH.sub(r"\1\2\1", text))


def public_name(text: str | None) -> str | None:
    """A local path's file name; remote text (URL, object URI) as it is, but for what grants access: a
    URL's user:password@ and its query (a presigned input's signature) are shown as ****."""
    if not text:
        return text
    if is_remote_text(text):
        return masked_url(text) if "://" in text else text
    return Path(text).name


def public_tree(value: Any) -> Any:
    """A JSON-ready value with every local path in its strings reduced to its file name (`url` and
    `*_url` fields are this API's own addresses, `/api/…`, and stay whole)."""
    if isinstance(value, str):
        return public_text(value)
    if isinstance(value, dict):
        return {key: item if _is_url_field(key) else public_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_tree(item) for item in value]
    return value


def live_view(snapshot: Any, role: Role) -> Any:
    """The live session's state as `role` may see it (the camera file, a recording's folder, a
    virtual camera device, paths in an output's error: file names for all but an admin)."""
    return snapshot if sees_paths(role) else public_tree(snapshot)


def _is_url_field(key: object) -> bool:
    return isinstance(key, str) and (key == "url" or key.endswith("_url"))
