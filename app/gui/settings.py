"""What the studio remembers between runs, kept with QSettings in an INI file.

The file lives in the user's settings folder (app.paths), so SWAPCAST_HOME isolates tests and
portable installs exactly like the rest of SwapCast. Values are read through typed accessors here,
never as raw strings in the widgets, so a key is spelled once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from app import consent
from app.paths import user_paths
from app.sources.library import (
    LIBRARY_FILE, Gallery, SavedIdentity, SourcesLibrary, keep_added_since, parse_identities,
)

SETTINGS_FILE = "studio.ini"


PROVIDERS: tuple[str, ...] = ("auto", "cuda", "tensorrt", "directml", "coreml", "cpu")
DETECTOR_SIZES: tuple[int, ...] = (0, 320, 480, 640, 800)  # 0: what the engine profile says

# Actions that can be bound to a key in Settings; source switching is fixed to 1–9.
HOTKEY_ACTIONS: dict[str, str] = {
    "bypass": "Swap on / off (bypass)",
    "mirror": "Mirror",
    "enhance": "Enhancer",
    "start_stop": "Start / stop live",
    "virtual_cam": "Virtual camera on / off",
}
DEFAULT_HOTKEYS: dict[str, str] = {
    "bypass": "B",
    "mirror": "M",
    "enhance": "E",
    "start_stop": "F5",
    "virtual_cam": "V",
}
DEFAULT_REMOTE_PORT = 8765  # `swapcast serve`'s default too


@dataclass(frozen=True)
class Preferences:
    """What the Settings dialog edits."""

    provider: str = "auto"  # "auto": what the engine profile (integrations.json) says
    det_size: int = 0  # 0: what the engine profile says
    enhance_blend: float = 0.8  # 0..1, how much of the enhanced face is kept
    output_dir: Path = field(default_factory=lambda: user_paths().outputs)
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    # "Allow remote control": the task API (`swapcast serve`'s) runs inside the studio. Off by default.
    remote_control: bool = False
    remote_port: int = DEFAULT_REMOTE_PORT
    remote_all_interfaces: bool = False  # listen on 0.0.0.0 (other machines) instead of 127.0.0.1
    # Jobs tab "Run on": this machine, or Ray actors (swapcast worker --ray); "" starts Ray here (or RAY_ADDRESS).
    run_on_ray: bool = False
    ray_address: str = ""

    def with_hotkey(self, action: str, sequence: str) -> Preferences:
        keys = dict(self.hotkeys)
        keys[action] = sequence
        return replace(self, hotkeys=keys)


@dataclass(frozen=True)
class LivePrefs:
    """The Live view's last choices, restored on the next run."""

    camera: str = ""  # a camera index/path, or a video file
    size: tuple[int, int] | None = (1280, 720)
    fps: float = 30.0
    mirror: bool = False
    enhance: bool = False
    face_mode: str = "largest"
    position: int = 0  # face_mode "position": which face, left to right from 0
    references: tuple[Path, ...] = ()  # face_mode "reference": photos of the faces to replace
    virtual_cam: bool = False
    stream_url: str = ""
    lip_sync: bool = False
    audio_in: str = ""  # a microphone's index, or an audio file played as the microphone


def settings_path() -> Path:
    return user_paths().settings / SETTINGS_FILE


class StudioSettings:
    """Typed access to the studio's QSettings file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)
        self._sources_read = Gallery()  # the gallery as `identities()` last read it

    # ---- raw helpers ---------------------------------------------------------------------
    def _get(self, key: str, default: Any) -> Any:
        value = self.qsettings.value(key, default)
        return default if value is None else value

    def _bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if isinstance(value, str):  # INI files hand booleans back as "true"/"false"
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self._get(key, default))
        except (TypeError, ValueError):
            return default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._get(key, default))
        except (TypeError, ValueError):
            return default

    def _json(self, key: str, default: Any) -> Any:
        text = self._get(key, "")
        if not text:
            return default
        try:
            return json.loads(str(text))
        except ValueError:
            return default  # a hand-edited, broken value must not stop the app from starting

    def sync(self) -> None:
        self.qsettings.sync()

    # ---- consent -------------------------------------------------------------------------
    @property
    def consent_accepted(self) -> bool:
        return consent.accepted()  # shared with the CLI

    def accept_consent(self) -> None:
        consent.accept()

    # ---- preferences ---------------------------------------------------------------------
    def preferences(self) -> Preferences:
        base = Preferences()
        provider = str(self._get("engine/provider", base.provider))
        keys = dict(DEFAULT_HOTKEYS)
        stored = self._json("hotkeys/map", {})
        if isinstance(stored, dict):
            keys.update({str(k): str(v) for k, v in stored.items() if k in HOTKEY_ACTIONS})
        return Preferences(
            provider=provider if provider in PROVIDERS else base.provider,
            det_size=self._int("engine/det_size", base.det_size),
            enhance_blend=min(1.0, max(0.0, self._float("engine/enhance_blend", base.enhance_blend))),
            output_dir=Path(str(self._get("jobs/output_dir", str(base.output_dir)))),
            hotkeys=keys,
            remote_control=self._bool("remote/enabled", base.remote_control),
            remote_port=min(65535, max(0, self._int("remote/port", base.remote_port))),
            remote_all_interfaces=self._bool("remote/all_interfaces", base.remote_all_interfaces),
            run_on_ray=self._bool("jobs/run_on_ray", base.run_on_ray),
            ray_address=str(self._get("jobs/ray_address", base.ray_address)).strip(),
        )

    def set_preferences(self, prefs: Preferences) -> None:
        self.qsettings.setValue("engine/provider", prefs.provider)
        self.qsettings.setValue("engine/det_size", int(prefs.det_size))
        self.qsettings.setValue("engine/enhance_blend", float(prefs.enhance_blend))
        self.qsettings.setValue("jobs/output_dir", str(prefs.output_dir))
        self.qsettings.setValue("hotkeys/map", json.dumps(prefs.hotkeys, sort_keys=True))
        self.qsettings.setValue("remote/enabled", prefs.remote_control)
        self.qsettings.setValue("remote/port", int(prefs.remote_port))
        self.qsettings.setValue("remote/all_interfaces", prefs.remote_all_interfaces)
        self.qsettings.setValue("jobs/run_on_ray", prefs.run_on_ray)
        self.qsettings.setValue("jobs/ray_address", prefs.ray_address)
        self.sync()

    # ---- live ----------------------------------------------------------------------------
    def live(self) -> LivePrefs:
        base = LivePrefs()
        size = self._json("live/size", list(base.size) if base.size else None)
        return LivePrefs(
            camera=str(self._get("live/camera", base.camera)),
            size=(int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None,
            fps=self._float("live/fps", base.fps),
            mirror=self._bool("live/mirror", base.mirror),
            enhance=self._bool("live/enhance", base.enhance),
            face_mode=str(self._get("live/face_mode", base.face_mode)),
            position=max(0, self._int("live/position", base.position)),
            references=tuple(Path(str(p)) for p in self._json("live/references", []) if isinstance(p, str)),
            virtual_cam=self._bool("live/virtual_cam", base.virtual_cam),
            stream_url=str(self._get("live/stream_url", base.stream_url)),
            lip_sync=self._bool("live/lip_sync", base.lip_sync),
            audio_in=str(self._get("live/audio_in", base.audio_in)),
        )

    def set_live(self, prefs: LivePrefs) -> None:
        self.qsettings.setValue("live/camera", prefs.camera)
        self.qsettings.setValue("live/size", json.dumps(list(prefs.size) if prefs.size else None))
        self.qsettings.setValue("live/fps", float(prefs.fps))
        self.qsettings.setValue("live/mirror", prefs.mirror)
        self.qsettings.setValue("live/enhance", prefs.enhance)
        self.qsettings.setValue("live/face_mode", prefs.face_mode)
        self.qsettings.setValue("live/position", int(prefs.position))
        self.qsettings.setValue("live/references", json.dumps([str(p) for p in prefs.references]))
        self.qsettings.setValue("live/virtual_cam", prefs.virtual_cam)
        self.qsettings.setValue("live/stream_url", prefs.stream_url)
        self.qsettings.setValue("live/lip_sync", prefs.lip_sync)
        self.qsettings.setValue("live/audio_in", prefs.audio_in)

    # ---- sources -------------------------------------------------------------------------
    # The gallery lives in app.sources' JSON file beside this INI (shared with `swapcast serve`); the
    # INI's old "sources/identities" key is read once, when that file does not exist yet.
    @property
    def sources_library(self) -> SourcesLibrary:
        return SourcesLibrary(self.path.parent / LIBRARY_FILE)

    def _legacy_gallery(self) -> Gallery:
        identities = parse_identities(self._json("sources/identities", []))
        return Gallery(identities, self._int("sources/active", 0))

    def identities(self) -> tuple[list[SavedIdentity], int]:
        gallery = self.sources_library.load(legacy=self._legacy_gallery)
        self._sources_read = gallery
        return list(gallery.identities), gallery.active

    def set_identities(self, identities: list[SavedIdentity], active: int) -> None:
        # Faces added over the API (`swapcast serve`) since the studio read the gallery are kept.
        ours, base = Gallery(tuple(identities), int(active)), self._sources_read
        self.sources_library.update(lambda current: keep_added_since(base, ours, current))

    # ---- window --------------------------------------------------------------------------
    def window_state(self) -> tuple[bytes | None, bytes | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (bytes(geometry) if geometry else None, bytes(state) if state else None)

    def set_window_state(self, geometry: bytes, state: bytes) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)
