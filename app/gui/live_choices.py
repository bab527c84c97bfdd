"""What the Live view contributes to a session (LiveChoices), and the LiveConfig those choices make
with the gallery's faces, or why Start cannot work yet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.pipeline.api import LiveConfig


@dataclass(frozen=True)
class LiveChoices:
    """Everything the panel contributes to a LiveConfig."""

    camera: str
    size: tuple[int, int] | None
    fps: float
    bypass: bool
    mirror: bool
    enhance: bool
    mouth_mask: bool
    face_mode: str
    position: int  # face_mode "position": 0 = left-most
    references: tuple[Path, ...]  # face_mode "reference"
    virtual_cam: bool
    stream_url: str | None
    record_path: Path | None
    lip_sync: bool = False  # the mouth follows `audio_in` (a device index or an audio file)
    audio_in: str | None = None


def live_config(choices: LiveChoices, groups: tuple[tuple[Path, ...], ...], lip_sync_wanted: bool,
                enhance_blend: float, models: Path | None) -> LiveConfig | str:
    """The session the user asked for (`groups`: the gallery's usable photos per face), or why it
    cannot start."""
    if not groups:
        return "add a source face first (left panel)"
    if not choices.camera:
        return "pick a camera, or a video file to play as one"
    if lip_sync_wanted and not choices.audio_in:
        return "pick a microphone or an audio file for lip sync"
    return LiveConfig(
        identities=groups,
        camera=choices.camera,
        size=choices.size,
        fps=choices.fps,
        virtual_cam=choices.virtual_cam,
        stream_url=choices.stream_url,
        record_path=choices.record_path,
        mirror=choices.mirror,
        enhance=choices.enhance,
        enhance_blend=enhance_blend,
        mouth_mask=choices.mouth_mask,
        face_mode=choices.face_mode,
        references=choices.references,
        position=choices.position,
        lip_sync=choices.lip_sync,
        audio_in=choices.audio_in,
        models=models,
    )
