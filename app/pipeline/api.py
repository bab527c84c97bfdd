"""The live pipeline's public interface: what the CLI (`swapcast live`) and the GUI use.

Fixed first so the GUI and the pipeline can be built side by side. Everything here is plain data or
a thread-safe method; nothing blocks the caller for long, and callbacks run on pipeline threads
(the GUI marshals them to its own thread with a queued signal).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from engines.base import EngineHealth


@dataclass(frozen=True)
class LiveConfig:
    # The faces to swap in: several photos per identity, the first identity active. The one owner of
    # the source photos; `sources=` below is only a shorthand for one photo per identity.
    identities: tuple[tuple[Path, ...], ...] = ()
    camera: str = "0"  # camera index, device path (/dev/video0) or a video file played at its own fps, looped
    size: tuple[int, int] | None = (1280, 720)  # requested capture size; None = the camera's default
    fps: float = 30.0  # requested capture fps and the virtual camera's send rate
    virtual_cam: bool = False
    vcam_backend: str = "auto"  # auto | v4l2loopback | obs | unitycapture
    vcam_device: str | None = None  # e.g. /dev/video10 (Linux)
    stream_url: str | None = None  # udp://host:port (MPEG-TS), srt://…, rtmp://…
    record_path: Path | None = None
    preview: bool = False  # an OpenCV window from the CLI (the GUI uses preview listeners instead)
    mirror: bool = False
    enhance: bool = False
    face_mode: str = "largest"  # largest | all | position | reference
    models: Path | None = None  # --models DIR
    duration_s: float | None = None  # stop by itself after this long
    stats_json: Path | None = None  # rewritten every second
    references: tuple[Path, ...] = ()  # face_mode "reference": swap only faces that look like these
    position: int = 0  # face_mode "position": which face, counted left to right from 0
    mouth_mask: bool = False  # keep the camera's own mouth (speech stays natural)
    enhance_blend: float = 0.8  # 0..1: how much of the enhanced face is kept
    # Lip sync: the mouth follows `audio_in` (a device index or name, or an audio file played in real
    # time); the video is delayed to the mel window's look-ahead. `avatar`: a photo or loop video
    # stands in for the camera (lip sync on; source faces optional: without them nothing is swapped).
    lip_sync: bool = False
    audio_in: str | None = None
    lip_sync_weight: float = 1.0
    avatar: Path | None = None
    # Shorthand: one photo per identity. Init-only (read `identities`): `config.sources` is always None.
    sources: InitVar[tuple[Path, ...] | None] = None

    def __post_init__(self, sources: tuple[Path, ...] | None) -> None:
        if sources is not None:
            if self.identities:
                raise ValueError("LiveConfig takes sources= or identities=, not both")
            object.__setattr__(self, "identities", tuple((Path(p),) for p in sources))
        else:
            object.__setattr__(self, "identities", tuple(tuple(Path(p) for p in group) for group in self.identities))
        if self.avatar is not None:
            object.__setattr__(self, "lip_sync", True)  # an avatar is there to be moved by the audio


class SessionState(str, enum.Enum):
    STARTING = "starting"  # loading models, opening the camera
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"  # could not start at all (e.g. no source face); `message` says why


@dataclass(frozen=True)
class OutputStatus:
    name: str  # "virtual camera", "stream", "recording", "preview"
    state: str  # "ok" | "retrying" | "unavailable" | "stopped"
    detail: str = ""  # e.g. "SwapCast on /dev/video10", or why it is unavailable and the fix
    frames_sent: int = 0
    failures: int = 0  # failed opens/sends since the output started (each one retried)
    last_error: str = ""  # the latest of them, "" when none
    worked: bool = False  # delivered at least one frame (a recording: finished a file)

    @property
    def never_worked(self) -> bool:
        """Failed every time it tried: what the user asked for did not happen at all."""
        return not self.worked and bool(self.failures or self.last_error)


@dataclass(frozen=True)
class LiveStats:
    state: SessionState
    message: str = ""  # status line: "camera 0 gone — reopening…", the failure reason, …
    fps_in: float = 0.0  # frames captured per second
    fps_out: float = 0.0  # frames processed per second
    latency_ms_p50: float = 0.0  # capture → processed, over the last few seconds
    latency_ms_p95: float = 0.0
    dropped: int = 0  # stale frames dropped at capture since start
    frames: int = 0  # frames processed since start
    stages_ms: dict[str, float] = field(default_factory=dict)  # capture, detect, swap, paste, … (recent means)
    outputs: tuple[OutputStatus, ...] = ()
    engine: EngineHealth | None = None
    bypass: bool = False
    mirror: bool = False
    enhance: bool = False
    face_mode: str = "largest"
    active_source: int = 0
    mouth_mask: bool = False
    # Lip sync (zeros when off): the audio input, the latency from a sound being heard to the frame
    # that shows it leaving the engine, and how long the video waited for its audio (A/V delay).
    lip_sync: bool = False
    audio_input: str = ""
    audio_latency_ms_p50: float = 0.0
    audio_latency_ms_p95: float = 0.0
    av_delay_ms: float = 0.0


PreviewListener = Callable[[np.ndarray, float], None]  # (BGR frame after swap, capture timestamp) — on a pipeline thread


class LiveControls(Protocol):
    """Act while running, without a restart; each takes effect within a frame or two."""

    def set_bypass(self, on: bool) -> None: ...
    def set_mirror(self, on: bool) -> None: ...
    def set_enhance(self, on: bool) -> None: ...
    def set_face_mode(self, mode: str) -> None: ...
    def set_active_source(self, index: int) -> None: ...
    def set_sources(self, identities: tuple[tuple[Path, ...], ...]) -> None: ...  # recognised off the frame path
    def set_references(self, photos: tuple[Path, ...]) -> None: ...  # for face_mode "reference"; off the frame path
    def set_position(self, index: int) -> None: ...  # for face_mode "position"
    def set_mouth_mask(self, on: bool) -> None: ...
    def set_enhance_blend(self, amount: float) -> None: ...  # 0..1
    def set_virtual_cam(self, on: bool) -> None: ...
    def set_recording(self, path: Path | None) -> None: ...
    def set_stream(self, url: str | None) -> None: ...
