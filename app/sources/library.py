"""The sources gallery as plain data: a list of identities `{name, photos}` and which one is active.

One JSON file in the settings folder (`sources.json`, owner-only, written atomically), shared by the
studio (its Sources panel) and `swapcast serve` (`GET/POST /api/sources`), so a face added from a
script shows in the window and the reverse. Before this file existed the studio kept the list in its
QSettings INI; the studio hands that list over once (`load(legacy=...)`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.paths import user_paths
from app.private_file import write_private_text

LIBRARY_FILE = "sources.json"


@dataclass(frozen=True)
class SavedIdentity:
    """One entry of the sources gallery: a name and the photos that make up that person."""

    name: str
    photos: tuple[Path, ...]


@dataclass(frozen=True)
class Gallery:
    identities: tuple[SavedIdentity, ...] = ()
    active: int = 0

    def find(self, name: str) -> int | None:
        """The index of the identity called `name` (case-insensitive), or None."""
        wanted = name.strip().casefold()
        return next((i for i, identity in enumerate(self.identities) if identity.name.casefold() == wanted), None)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content: the same photo under two names is one photo."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_path() -> Path:
    return user_paths().settings / LIBRARY_FILE


class SourcesLibrary:
    """Reads and writes the gallery file. Thread-safe within a process; each write replaces the whole
    file, so a reader never sees half of one."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or library_path()
        self._lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def load(self, legacy: Callable[[], Gallery] | None = None) -> Gallery:
        """The saved gallery. Without the file: `legacy()` (an older store) when given, else empty. A
        broken file reads as empty: a hand-edited value must not stop the studio or the server."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return legacy() if legacy is not None else Gallery()
        except (OSError, ValueError):
            return Gallery()
        if not isinstance(raw, dict):
            return Gallery()
        identities = parse_identities(raw.get("identities", []))
        try:
            active = int(raw.get("active", 0))
        except (TypeError, ValueError):
            active = 0
        return Gallery(identities, min(max(0, active), max(0, len(identities) - 1)))

    def save(self, gallery: Gallery) -> None:
        with self._lock:
            self._write(gallery)

    def update(self, change: Callable[[Gallery], Gallery]) -> Gallery:
        """Read, change and write under one lock (the server's adds do not overwrite each other)."""
        with self._lock:
            gallery = change(self.load())
            self._write(gallery)
            return gallery

    def _write(self, gallery: Gallery) -> None:
        body = json.dumps({"identities": [{"name": i.name, "photos": [str(p) for p in i.photos]}
                                          for i in gallery.identities],
                           "active": int(gallery.active)}, indent=1)
        write_private_text(self.path, body)


def parse_identities(raw: object) -> tuple[SavedIdentity, ...]:
    """`[{"name": ..., "photos": [...]}, ...]` as identities; malformed entries are skipped."""
    saved: list[SavedIdentity] = []
    if isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict) and isinstance(entry.get("photos"), list):
                photos = tuple(Path(str(p)) for p in entry["photos"])
                if photos:
                    saved.append(SavedIdentity(str(entry.get("name") or photos[0].stem), photos))
    return tuple(saved)


def add_photos(gallery: Gallery, name: str, photos: Iterable[Path],
               digest: Callable[[Path], str] = file_digest) -> tuple[Gallery, list[Path], list[Path]]:
    """`photos` added to the identity called `name` (a new one when there is none).

    A photo whose content is already in the gallery (any identity, any file name) is not added again.
    Returns (the new gallery, the photos added, the photos that were duplicates)."""
    known: set[str] = set()
    for identity in gallery.identities:
        for photo in identity.photos:
            try:
                known.add(digest(photo))
            except OSError:
                continue  # a photo gone from disk matches nothing
    added: list[Path] = []
    duplicates: list[Path] = []
    for photo in photos:
        key = digest(photo)
        if key in known:
            duplicates.append(photo)
        else:
            known.add(key)
            added.append(photo)
    if not added:
        return gallery, added, duplicates
    identities = list(gallery.identities)
    index = gallery.find(name)
    if index is None:
        identities.append(SavedIdentity(name.strip(), tuple(added)))
    else:
        identities[index] = SavedIdentity(identities[index].name, identities[index].photos + tuple(added))
    return Gallery(tuple(identities), gallery.active), added, duplicates


def keep_added_since(base: Gallery, ours: Gallery, current: Gallery) -> Gallery:
    """`ours` (the studio's gallery, first read as `base`) plus what others added to the file since:
    identities not in `base`, and photos added to an identity `base` had. What `ours` removed stays
    removed; so a face added over the API while the studio ran survives the studio's save on close."""
    known = {identity.name.casefold(): set(identity.photos) for identity in base.identities}
    identities = list(ours.identities)
    for theirs in current.identities:
        key = theirs.name.casefold()
        index = next((i for i, mine in enumerate(identities) if mine.name.casefold() == key), None)
        if key not in known:
            new_photos = theirs.photos
        else:
            new_photos = tuple(p for p in theirs.photos if p not in known[key])
        if not new_photos:
            continue
        if index is None:
            if key in known:
                continue  # the studio removed this identity: photos added to it meanwhile go with it
            identities.append(SavedIdentity(theirs.name, new_photos))
        else:
            mine = identities[index]
            identities[index] = SavedIdentity(mine.name, mine.photos + tuple(p for p in new_photos if p not in mine.photos))
    return Gallery(tuple(identities), ours.active)
