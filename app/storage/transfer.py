"""The callbacks a transfer (a fetch, a download, an upload) is given."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int | None], None]  # (bytes done, bytes in all when known)
Cancelled = Callable[[], bool]  # true once the caller wants the transfer stopped
