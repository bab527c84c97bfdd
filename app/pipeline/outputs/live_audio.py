"""The audio input's sound in a live output's file or stream (AAC), on the video's clock.

Video timestamps count from the first frame's capture time; a block of sound heard at clock time c
goes at (c − that origin). The sound arrives before the (delayed) video, so each frame muxes the
sound up to its own end, and the close muxes the rest up to the last frame's end: the audio track
ends where the picture does.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
import numpy as np

if TYPE_CHECKING:
    from app.pipeline.lip_sync import AudioTap

AUDIO_CODEC = "aac"
AUDIO_BITRATE = 96_000  # one voice, mono


class LiveAudioTrack:
    def __init__(self, tap: AudioTap) -> None:
        self.tap = tap
        self.rate = tap.rate
        self._stream: Any = None
        self._next_pts = 0  # samples written so far: blocks are placed back to back, never overlapping
        self.samples = 0

    def add_to(self, container: Any) -> None:
        """Before the header is written: the container needs every stream first."""
        stream = container.add_stream(AUDIO_CODEC, rate=self.rate, layout="mono")
        stream.bit_rate = AUDIO_BITRATE
        self._stream = stream
        self._next_pts = 0

    def mux_until(self, container: Any, origin: float | None, until_clock: float) -> None:
        """Mux the sound heard before `until_clock`; what came before the first frame is left out."""
        if self._stream is None or origin is None:
            return
        for block in self.tap.take(until_clock):
            start = int(round((block.clock_start - origin) * self.rate))
            samples = block.samples
            if start + len(samples) <= self._next_pts:
                continue  # entirely before the picture started (or already written)
            if start < self._next_pts:
                samples = samples[self._next_pts - start:]
            elif start > self._next_pts:
                # A gap on the input's clock (dropped blocks): fill it with silence, the timeline stays whole.
                samples = np.concatenate([np.zeros(start - self._next_pts, np.float32), samples])
            self._encode(container, samples)

    def _encode(self, container: Any, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._next_pts
        frame.time_base = Fraction(1, self.rate)
        self._next_pts += len(samples)
        self.samples += len(samples)
        container.mux(self._stream.encode(frame))

    def finish(self, container: Any, origin: float | None, end_clock: float | None) -> None:
        """Mux the sound up to the picture's end, padded with silence if the input fell short, then flush."""
        if self._stream is None:
            return
        if origin is not None and end_clock is not None:
            self.mux_until(container, origin, end_clock)
            missing = int(round((end_clock - origin) * self.rate)) - self._next_pts
            if missing > 0:
                self._encode(container, np.zeros(missing, np.float32))
        container.mux(self._stream.encode(None))
        self.tap.close()

    def abandon(self) -> None:
        self.tap.close()
