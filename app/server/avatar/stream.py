"""One connection's work: a client's audio chunks in, lip-synced fragmented MP4 out, chunk by chunk.

Frame i is shown at t = i / fps. Its mel window is centred on t, so a frame is made once the audio up
to t + LOOKAHEAD_S (~0.11 s) has arrived (MelStream.window_at answers None before): the video trails the
audio by that look-ahead while streaming, and `finish()` pads the mel with silence to make the last
frames, so the stream holds ceil(audio seconds × fps) frames and all of the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.media.fragmented import FragmentedMp4Encoder
from engines.builtin.lipsync.mel import LOOKAHEAD_S, MelStream, to_16k_mono

from .audio_in import AudioDecoder
from .renderer import Renderer
from .session import AvatarSession

SILENCE_PAD_S = 2 * LOOKAHEAD_S  # what finish() pushes past the end so the last windows exist


@dataclass(frozen=True)
class StreamTotals:
    frames: int
    audio_s: float


class AvatarStream:
    """Not thread-safe: the connection calls it from one worker thread at a time."""

    def __init__(self, session: AvatarSession, renderer: Renderer, decoder: AudioDecoder) -> None:
        self.session = session
        self.renderer = renderer
        self.decoder = decoder
        self.mel = MelStream()
        self.encoder: FragmentedMp4Encoder | None = None
        self.samples = 0  # per channel, at the decoder's rate
        self.frames = 0
        self.finished = False

    @property
    def audio_s(self) -> float:
        return self.samples / self.decoder.rate if self.samples else 0.0

    def feed(self, data: bytes) -> bytes:
        """One binary message: the fMP4 bytes ready after it (may be empty). BadAudio on a bad frame."""
        return self._advance(self.decoder.feed(data), final=False)

    def finish(self) -> bytes:
        """The client said the speech ended: the remaining frames, both encoders flushed, the last bytes."""
        out = self._advance(self.decoder.finish(), final=True)
        self.finished = True
        if self.encoder is None:
            return out
        return out + self.encoder.close()

    def abort(self) -> None:
        self.decoder.close()
        if self.encoder is not None and not self.finished:
            self.encoder.abort()

    @property
    def totals(self) -> StreamTotals:
        return StreamTotals(self.frames, round(self.audio_s, 4))

    def _advance(self, pcm: np.ndarray, *, final: bool) -> bytes:
        if len(pcm):
            if self.encoder is None:
                source = self.session.source
                self.encoder = FragmentedMp4Encoder(source.width, source.height, source.fps, self.decoder.rate,
                                                    self.decoder.channels, tag_extra=f"avatar {self.session.id}")
            self.samples += len(pcm)
            self.mel.push(to_16k_mono(pcm, self.decoder.rate, self.decoder.channels))
        if self.encoder is None:
            return b""
        if final:
            self.mel.push(np.zeros(int(SILENCE_PAD_S * 16_000), np.float32))
        frames = self._frames(math.ceil(self.audio_s * self.session.source.fps - 1e-9) if final else None)
        return self.encoder.add(frames, pcm)

    def _frames(self, last: int | None) -> list[np.ndarray]:
        """Render every frame whose window is complete (up to `last`, exclusive, when given)."""
        session, fps = self.session, self.session.source.fps
        frames = []
        while last is None or self.frames < last:
            window = self.mel.window_at(self.frames / fps)
            if window is None:
                break
            frames.append(self.renderer.render(session.source.next_frame(), window, session.weight,
                                               session.stream_state, session.clock))
            session.clock += 1 / fps
            self.frames += 1
        return frames
