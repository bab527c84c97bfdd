"""Encode BGR frames into a video that keeps the source's timing, rotation, colour tags and sound,
tagged as AI-altered, written to a temporary file and renamed into place only when complete."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from engines.errors import InputError, SwapCastError
from engines.metadata import output_tags

from .audio import AudioPlan, AudioTrack
from .encoders import EncoderChoice, resolve_encoder
from .output import check_output, discard, reserve_temp
from .probe import MediaInfo
from .reader import SCALE_FLAGS

log = logging.getLogger(__name__)

# Sound is muxed this far ahead of the picture so the interleaver never waits on it.
AUDIO_LEAD_S = 0.5
# MP4/MOV: index at the front, so the file plays while it downloads (one extra rewrite at close).
_FASTSTART_FORMATS = {"mp4", "mov", "ipod", "ismv"}

# FFmpeg colour-space codes (AVColorSpace) → swscale's matrix names, for BGR → YUV.
_SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeSettings:
    """How to write: `quality` is on the CRF scale (0–51, lower is better) whatever the encoder."""

    encoder: str = "auto"
    quality: int = 20
    preset: str | None = None  # the encoder's own preset name; None = its default
    audio: bool = True
    overwrite: bool = False
    tag_extra: str | None = None  # appended to the AI-altered tag, e.g. the job id


class VideoWriter:
    """Write frames with their source timestamps. Use as a context manager, or call `finish()`
    (rename into place) or `abort()` (delete the temporary); nothing is left under the
    destination name unless `finish()` succeeded.

    `start_s`/`end_s` are the trim the frames were read with (seconds from the source's first
    frame): with a start, the output is shifted to begin at 0 and its sound cut to match.
    `audio_file`: the sound comes from this file's first audio stream instead of the source's (lip
    sync), cut at `end_s` seconds of its own clock.
    """

    def __init__(
        self,
        dst: str | Path,
        source: MediaInfo,
        settings: EncodeSettings | None = None,
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        encoder: EncoderChoice | None = None,
        audio_file: Path | None = None,
    ) -> None:
        self.settings = settings or EncodeSettings()
        self._audio_file = audio_file
        self.source = source
        inputs = [source.path, *([audio_file] if audio_file is not None else [])]
        self.path = check_output(dst, inputs=inputs, overwrite=self.settings.overwrite)
        self.encoder = encoder or resolve_encoder(self.settings.encoder, self.settings.quality, self.settings.preset)
        # `auto` falling back to libx264 is the normal case on a machine without a hardware encoder:
        # log it, don't warn the user about it on every job.
        if self.encoder.note:
            _log.info(self.encoder.note)
        self.warnings: list[str] = []
        self.frames_written = 0
        self.audio_copied: bool | None = None
        self._start_s = start_s if start_s else None
        self._end_s = end_s
        self._finished = False
        self.completed = False  # True once the output is in place under its name
        self._container: Any = None
        self._audio: AudioTrack | None = None
        self._pts_shift: int | None = None
        self._last_pts: int | None = None
        self._bumped = 0
        self._reformatter = VideoReformatter()
        self.width = source.width - source.width % 2
        self.height = source.height - source.height % 2
        if (self.width, self.height) != (source.width, source.height):
            self.warnings.append(
                f"{source.width}×{source.height} cropped to {self.width}×{self.height}: "
                "yuv420p video needs even dimensions (the last column/row is dropped)"
            )
        self.temp_path: Path | None = reserve_temp(self.path)
        try:
            self._open()
        except BaseException:
            self.abort()
            raise

    # -- set-up -------------------------------------------------------------------------------

    def _open(self) -> None:
        source, choice = self.source, self.encoder
        try:
            container: Any = av.open(str(self.temp_path), mode="w")
        except (ValueError, av.FFmpegError) as error:
            raise InputError(
                f"{self.path}: cannot write '{self.path.suffix}' files ({error})", "use .mp4, .mkv or .mov"
            ) from None
        self._container = container
        try:
            stream: Any = container.add_stream(choice.name, rate=source.frame_rate or Fraction(30))
        except ValueError as error:
            raise InputError(
                f"{self.path}: a '{self.path.suffix}' file cannot hold {choice.name} video ({error})",
                "use .mp4, .mkv or .mov",
            ) from None
        self._stream = stream
        ctx = stream.codec_context
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = choice.pix_fmt
        # The encoder counts in the source's clock, so every input pts survives exactly (a
        # 1/fps clock would round variable-frame-rate timestamps onto a fixed grid).
        ctx.time_base = source.time_base
        stream.time_base = source.time_base
        if source.frame_rate:
            ctx.framerate = source.frame_rate
        # Colour tags go into the bitstream (VUI) so players decode with the source's matrix/range.
        ctx.color_range = source.color_range_code or 1
        ctx.colorspace = source.color_space
        ctx.color_primaries = source.color_primaries
        ctx.color_trc = source.color_trc
        for key, value in choice.context.items():
            setattr(ctx, key, value)
        ctx.options = dict(choice.options)
        try:
            # Opened now, not at the first frame, so a bad preset is refused before any decoding.
            ctx.open()
        except av.FFmpegError as error:
            raise InputError(
                f"video encoder {choice.name} refused its settings {choice.options} ({error})",
                "check the preset and quality options",
            ) from None
        self._set_rotation(stream)

        tags = output_tags(self.settings.tag_extra)
        container.metadata.update(tags)
        # libavformat replaces a container-level "encoder" with its own name in MP4; the stream
        # tag survives in Matroska.
        container.metadata["encoder"] = f"SwapCast ({choice.name})"
        stream.metadata["encoder"] = f"SwapCast ({choice.name})"
        if container.format.name in _FASTSTART_FORMATS:
            container.options["movflags"] = "+faststart"

        sound = self._audio_file or (source.path if source.has_audio else None)
        if self.settings.audio and sound is not None:
            origin_s = float(source.start_pts * source.time_base) if self._audio_file is None else 0.0
            plan = AudioPlan(end_s=origin_s + self._end_s if self._end_s is not None else None)
            self._audio = AudioTrack(sound, container, plan)
            self.audio_copied = self._audio.copied
            if self._audio.warning:
                self.warnings.append(self._audio.warning)

    def _set_rotation(self, stream: Any) -> None:
        # Metadata only: players turn the picture exactly as they turned the source's; the pixels
        # (and the face positions the engine saw) stay as decoded.
        source = self.source
        if source.display_matrix is None and not source.rotation:
            return
        if source.display_matrix is not None and hasattr(stream, "set_display_matrix"):
            stream.set_display_matrix(list(source.display_matrix))
        elif hasattr(stream, "set_display_rotation"):
            stream.set_display_rotation(source.rotation)
        else:  # PyAV < 16: the legacy clockwise tag, which FFmpeg's MP4 muxer still understands
            stream.metadata["rotate"] = str((-source.rotation) % 360)

    # -- writing ------------------------------------------------------------------------------

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one BGR frame at `pts` (source stream clock)."""
        if self._finished or self._container is None:
            raise RuntimeError("VideoWriter is closed")
        if image.shape[0] < self.height or image.shape[1] < self.width or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"frame of shape {image.shape} does not fit a {self.width}×{self.height} BGR video")
        if image.shape[0] != self.height or image.shape[1] != self.width:
            image = image[: self.height, : self.width]
        if image.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {image.dtype}")
        if self._pts_shift is None:
            self._start_timeline(pts)
        assert self._pts_shift is not None
        pts -= self._pts_shift
        if self._last_pts is not None and pts <= self._last_pts:
            # Two frames on one timestamp (broken source) would make the muxer fail; nudge by a tick.
            pts = self._last_pts + 1
            self._bumped += 1
        self._last_pts = pts

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        yuv = self._reformatter.reformat(
            frame,
            format=self.encoder.pix_fmt,
            dst_colorspace=_SWS_MATRIX.get(self.source.color_space),
            dst_color_range=self.source.color_range_code or 1,
            interpolation=SCALE_FLAGS,  # exact levels both ways: a swap must not darken the video
        )
        yuv.pts = pts
        yuv.time_base = self.source.time_base
        self._container.mux(self._stream.encode(yuv))
        self.frames_written += 1
        if self._audio is not None:
            self._audio.pump(float(pts * self.source.time_base) + AUDIO_LEAD_S)

    def _start_timeline(self, first_pts: int) -> None:
        # Untrimmed: timestamps are kept exactly (shift 0). Trimmed at the start: the first frame
        # becomes time 0, and the sound is cut and shifted by the same amount.
        self._pts_shift = first_pts if self._start_s is not None else 0
        if self._audio is not None and self._start_s is not None:
            first_s = float(first_pts * self.source.time_base)
            self._audio.plan = AudioPlan(start_s=first_s, end_s=self._audio.plan.end_s, shift_s=first_s)

    def finish(self) -> Path:
        """Flush the encoder, mux the rest of the sound, close, and rename into place."""
        if self._finished:
            return self.path
        try:
            if self.frames_written == 0:
                raise InputError(
                    f"{self.source.path}: no frames to write (is the trim range empty?)",
                    "check the start/end times against the video's length",
                )
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.pump(None)
            self._container.close()
            self._container = None
            if self._audio is not None:
                self._audio.close()
            if self.path.exists() and not self.settings.overwrite:
                # Someone created it while we were encoding: do not clobber their file.
                raise InputError(f"{self.path}: the output appeared while encoding", "pick another name or pass --overwrite")
            assert self.temp_path is not None
            os.replace(self.temp_path, self.path)
            self.temp_path = None
        except av.FFmpegError as error:
            self.abort()
            raise SwapCastError(f"{self.path}: writing the video failed ({error})", "check free disk space") from error
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self.completed = True
        if self._bumped:
            self.warnings.append(f"{self._bumped} frames had a repeated timestamp and were moved by one tick")
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file. Safe to call more than once, and after a failure."""
        self._finished = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a half-written file can fail; it is deleted anyway
                pass
            self._container = None
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        discard(self.temp_path)
        self.temp_path = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()
