"""What the API's routes work on: the same objects the CLI and the GUI use, built once per server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.jobs.events import EventBus
from app.jobs.store import JobStore
from app.sources.library import SourcesLibrary

from .avatar.manager import AvatarManager
from .events.hub import EventHub
from .live_host import LiveHost
from .tokens import TokenStore

DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3  # 2 GiB: a long 4K clip; a setting (`serve --max-upload-mb`)


@dataclass(frozen=True)
class ServerSettings:
    uploads: Path  # the server's own folder for uploaded files (generated names only)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    allow_paths: tuple[Path, ...] = ()  # server-side paths allowed only inside these (resolved); none: paths off
    allow_urls: bool = False  # `source_url` / `target_url` may be http(s) (public addresses only); objects always


@dataclass
class ServerContext:
    store: JobStore
    bus: EventBus
    tokens: TokenStore
    settings: ServerSettings
    live: LiveHost = field(default_factory=LiveHost)
    sources: SourcesLibrary = field(default_factory=SourcesLibrary)  # the studio's gallery file (settings folder)
    hub: EventHub = field(default_factory=EventHub)  # what /api/events subscribers are sent
    avatars: AvatarManager = field(default_factory=AvatarManager)  # avatar sessions (routes/avatar.py)
