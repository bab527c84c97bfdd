"""Server-side paths: off unless `--allow-paths DIR`, and then only inside DIR.

A client names a file on the server (a job's input, the live camera's video file) only where the
operator allowed it. The path is resolved first (`..` and symlinks followed), so neither a
`../../etc/passwd` nor a symlink inside DIR that points out of it gets through.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .envelope import ApiError, ErrorCode


def allowed_path(text: str, allow_paths: Sequence[Path], what: str = "path") -> Path:
    """`text` resolved, when it lies inside one of `allow_paths`; ApiError 403 otherwise.

    resolve() follows every symlink and collapses `..` first, so neither can lead outside."""
    if not allow_paths:
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED,
                       f"the {what} '{text}' is a path on the server, and this server takes none — upload the file "
                       "instead (curl -F source=@FILE), or start it with --allow-paths DIR")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED,
                       f"the {what} '{text}' is a relative path — give an absolute path inside {_roots(allow_paths)}")
    try:
        resolved = path.resolve(strict=False)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an embedded NUL
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED, f"the {what} '{text}' cannot be resolved — "
                       f"give a plain path inside {_roots(allow_paths)}") from None
    if not any(resolved.is_relative_to(Path(root).expanduser().resolve()) for root in allow_paths):
        raise ApiError(403, ErrorCode.PATH_NOT_ALLOWED,
                       f"the {what} '{text}' is outside the folders this server may read and write — use a path "
                       f"inside {_roots(allow_paths)} (symlinks and '..' are followed first)")
    return resolved


def _roots(allow_paths: Sequence[Path]) -> str:
    return " or ".join(str(Path(p)) for p in allow_paths)
