"""A recording of the swapped feed: tagged AI-altered like every SwapCast output, written to a
temporary file beside the destination and renamed into place only when it is finished, so a crash
never leaves a half-written file under the user's name."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from engines.metadata import output_tags

from app.media.encoders import resolve_encoder
from app.media.output import discard, reserve_temp
from app.pipeline.frame import LiveFrame
from app.pipeline.stats import PipelineStats

from .base import FrameClock, Output, encode_on_clock, even_size
from .live_audio import LiveAudioTrack

if TYPE_CHECKING:
    from app.pipeline.lip_sync import AudioTap

log = logging.getLogger(__name__)

LIVE_QUALITY = 20  # CRF scale, as the offline writer
# x264's veryfast (the offline default) costs ~2× superfast; live, it competes with the swap for
# the same cores, so spend less on compression (the file is a bit larger).
LIVE_X264_PRESET = "superfast"
_FASTSTART = {".mp4", ".mov", ".m4v"}


class RecordingOutput(Output):
    name = "recording"
    capacity = 2  # a little slack: a recording should lose as few frames as it can

    def __init__(self, path: Path, fps: float, stats: PipelineStats | None = None, encoder: str = "auto",
                 audio: AudioTap | None = None) -> None:
        super().__init__(stats)
        self.audio = LiveAudioTrack(audio) if audio is not None else None  # the audio input's sound, AAC
        self.path = Path(path)
        self.fps = fps
        self.encoder = encoder
        self.written: list[Path] = []  # finished files (more than one after a failure mid-way)
        self._target = self.path
        self._temp: Path | None = None
        self._container: Any = None
        self._stream: Any = None
        self._clock = FrameClock(fps)
        self._size = (0, 0)
        self._frames_in_file = 0

    @property
    def worked(self) -> bool:
        return bool(self.written)

    def _describe(self) -> str:
        width, height = self._size
        return f"recording {self._target} ({width}×{height} @ {float(self._clock.rate):g} fps)"

    def _next_target(self) -> Path:
        # After a failure the next part goes beside the first, never over it.
        if not self.written and not self._target.exists():
            return self._target
        n = len(self.written) + 2
        while True:
            candidate = self.path.with_name(f"{self.path.stem}-{n}{self.path.suffix}")
            if not candidate.exists():
                return candidate
            n += 1

    def _open(self, frame: LiveFrame) -> None:
        self._target = self._next_target()
        self._target.parent.mkdir(parents=True, exist_ok=True)
        width, height = even_size(*frame.size)
        choice = resolve_encoder(self.encoder, LIVE_QUALITY)
        options = dict(choice.options)
        if choice.name == "libx264":
            options["preset"] = LIVE_X264_PRESET
        self._temp = reserve_temp(self._target)
        container: Any = av.open(str(self._temp), mode="w")
        try:
            self._clock = FrameClock(self.fps)
            stream: Any = container.add_stream(choice.name, rate=self._clock.rate)
            stream.width, stream.height, stream.pix_fmt = width, height, choice.pix_fmt
            ctx = stream.codec_context
            ctx.time_base = self._clock.time_base
            stream.time_base = self._clock.time_base
            for key, value in choice.context.items():
                setattr(ctx, key, value)
            stream.options = options
            container.metadata.update(output_tags("live recording"))
            container.metadata["encoder"] = f"SwapCast ({choice.name})"
            stream.metadata["encoder"] = f"SwapCast ({choice.name})"
            if self._target.suffix.lower() in _FASTSTART:
                container.options["movflags"] = "+faststart"
            if self.audio is not None:
                self.audio.add_to(container)
        except BaseException:
            container.close()
            discard(self._temp)
            raise
        self._container, self._stream, self._size = container, stream, (width, height)
        self._frames_in_file = 0

    def _send(self, frame: LiveFrame) -> bool:
        if not encode_on_clock(self._container, self._stream, self._clock, self._size, frame):
            return False
        self._frames_in_file += 1
        if self.audio is not None:
            self.audio.mux_until(self._container, self._clock.origin, self._clock.end or frame.captured_at)
        return True

    def _close(self, completed: bool) -> None:
        container, self._container = self._container, None
        temp, self._temp = self._temp, None
        if container is None:
            return
        try:
            # Even after a failure, try to finish what was recorded: a full disk mid-way should cost
            # the frames that did not fit, not the whole recording.
            if self._frames_in_file:
                container.mux(self._stream.encode(None))
                if self.audio is not None:
                    self.audio.finish(container, self._clock.origin, self._clock.end)
            container.close()
        except Exception:
            try:
                container.close()
            except Exception:  # noqa: BLE001 — the file is discarded below anyway
                pass
            discard(temp)
            if completed:
                raise
            return
        if not self._frames_in_file:
            discard(temp)
            self._set(self._state, "nothing was recorded")
            return
        assert temp is not None
        os.replace(temp, self._target)
        self.written.append(self._target)
        log.info("recording saved: %s (%d frames)", self._target, self._frames_in_file)
        if completed:
            self._set(self._state, f"saved {self._target} ({self._frames_in_file} frames)")
