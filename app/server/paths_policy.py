"""Server-side paths: off unless `--allow-paths DIR`, and then only inside DIR.

A client names a file on the server (a job's input, the live camera's video file) only where the
operator allowed it. The path is resolved first (`..` and symlinks followed), so neither a
`../../etc/passwd` nor a symlink inside DIR that points out of it gets through.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .envelope import ApiError, ErrorCode


def allowed_path(text: str, allow_paths: Sequence[Path], *, what: str = "path") -> Path:
    """`text` resolved, when it lies inside one of `allow_paths`; ApiError 403 otherwise."""
    if not allow_paths:
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED,
                       f"{what} {text!r}: server-side paths are off — upload the file, or start the server "
                       "with --allow-paths DIR")
    try:
        resolved = Path(text).expanduser().resolve(strict=False)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an embedded NUL
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED, f"{what} {text!r} cannot be resolved — "
                       "give a plain path inside an --allow-paths folder") from None
    for root in allow_paths:
        base = Path(root).expanduser().resolve()
        if resolved == base or resolved.is_relative_to(base):
            return resolved
    raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED,
                   f"{what} {text!r} is outside the allowed folders — use a file inside "
                   + ", ".join(str(Path(r)) for r in allow_paths))
