"""The web dashboard at `/`: static HTML/JS/CSS from app/server/static, no build step, nothing from a CDN.

The page itself holds no data and needs no token; it asks the user for one and calls the API with it
(GET /api/status, /api/jobs, the /api/events WebSocket, /api/live/preview.jpg). Only the files that ship
in the static folder are served — a fixed set read at import, so a request can never name another path.
This router is the last one the app includes: /api/*, /health and /docs are matched first.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..envelope import ApiError, ErrorCode

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = "index.html"

# The page loads nothing from elsewhere: scripts and styles from here, the preview as a blob: URL made
# from a fetch, the events over a same-origin WebSocket ('self' covers ws: in current browsers; the
# explicit schemes are for older ones).
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: wss:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A new release's page must not run an old cached app.js against a new API.
    "Cache-Control": "no-cache",
}

_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _shipped_files() -> dict[str, Path]:
    if not STATIC_DIR.is_dir():
        return {}
    return {path.name: path for path in STATIC_DIR.iterdir()
            if path.is_file() and path.suffix in _MEDIA_TYPES and path.name != INDEX}


_FILES = _shipped_files()

router = APIRouter(include_in_schema=False)


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/")
def index() -> FileResponse:
    page = STATIC_DIR / INDEX
    if not page.is_file():
        raise ApiError(503, ErrorCode.UNAVAILABLE,
                       "the dashboard's files are missing from this install — reinstall SwapCast "
                       "(the API under /api and /docs still works)")
    return _file(page)


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    path = _FILES.get(name)
    if path is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"no dashboard file {name!r} — open / for the dashboard")
    return _file(path)
