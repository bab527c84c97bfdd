"""Fragmented MP4 made in memory, chunk by chunk: BGR frames (H.264) and PCM sound (AAC) in, bytes out.

For streaming to a client that plays as it receives (a browser's Media Source Extensions, or PyAV
reading the bytes as they come): `empty_moov` puts the header (the init segment) first with no sample
table, `frag_keyframe` starts a fragment (moof + mdat) at each keyframe, `default_base_moof` makes the
fragments self-contained. x264 runs `ultrafast` + `zerolatency` (no look-ahead, no B-frames: a frame's
packet comes out as soon as it goes in). Each `add()` starts with a keyframe, so each call becomes one
fragment. The muxer writes a fragment once the next one has begun and it holds the sound that goes
with it (it interleaves the two tracks by time), so the bytes `add()` returns are those of earlier
chunks — one chunk behind when the picture trails the sound, as lip-synced video does — and the last
ones come from `close()`. Every piece returned is whole boxes: each can go to a player as it is.

The stream carries the AI-altered tag like every SwapCast output.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from engines.metadata import output_tags

from .reader import SCALE_FLAGS

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency"}
AUDIO_CODEC = "aac"
AUDIO_BITRATE = 96_000
DEFAULT_QUALITY = 23  # CRF: x264's own default
_LAYOUTS = {1: "mono", 2: "stereo"}
# What a browser's MediaSource.isTypeSupported() is asked: H.264 Constrained Baseline 3.0 + AAC-LC.
MIME_TYPE = 'video/mp4; codecs="avc1.42E01E, mp4a.40.2"'


class _Sink(io.RawIOBase):
    """Collects what the muxer writes; `take()` hands it over. Not seekable: the muxer must stream."""

    def __init__(self) -> None:
        super().__init__()
        self._data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._data += data
        return len(data)

    def take(self) -> bytes:
        data, self._data = bytes(self._data), bytearray()
        return data


class FragmentedMp4Encoder:
    """One stream: `add(frames, pcm)` per chunk, then `close()`. Not thread-safe (one caller at a time).

    `pcm` is int16, shaped (samples, channels) or flat interleaved, at `sample_rate`. Frames are BGR
    uint8 of `width`×`height` (odd sizes are cropped to even: yuv420p needs them)."""

    def __init__(self, width: int, height: int, fps: int, sample_rate: int, channels: int, *,
                 quality: int = DEFAULT_QUALITY, tag_extra: str | None = None) -> None:
        if channels not in _LAYOUTS:
            raise ValueError(f"{channels} audio channels — send mono or stereo")
        self.width, self.height = width - width % 2, height - height % 2
        self.fps = fps
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0
        self.samples = 0
        self._sink = _Sink()
        self._reformatter = VideoReformatter()
        self._closed = False
        # avoid_negative_ts off: AAC's priming samples start before 0, and shifting every stream to hide
        # them would move the picture's first frames off the frame grid.
        container: Any = av.open(self._sink, mode="w", format="mp4",
                                 options={"movflags": MOVFLAGS, "avoid_negative_ts": "disabled"})
        self._container = container
        video: Any = container.add_stream("libx264", rate=fps)
        video.width, video.height = self.width, self.height
        video.pix_fmt = "yuv420p"
        video.time_base = Fraction(1, fps)
        video.codec_context.time_base = Fraction(1, fps)
        video.codec_context.options = {**X264_OPTIONS, "crf": str(quality), "profile": "baseline",
                                       "x264-params": "log-level=none"}
        self._video = video
        audio: Any = container.add_stream(AUDIO_CODEC, rate=sample_rate)
        audio.layout = _LAYOUTS[channels]
        audio.bit_rate = AUDIO_BITRATE
        self._audio = audio
        container.metadata.update(output_tags(tag_extra))

    @property
    def mime_type(self) -> str:
        return MIME_TYPE

    def add(self, frames: Sequence[np.ndarray], pcm: np.ndarray) -> bytes:
        """Encode one chunk (its first frame a keyframe); the bytes the muxer has written since the last call."""
        if self._closed:
            raise RuntimeError("the fragmented MP4 stream is closed")
        for index, image in enumerate(frames):
            self._encode_frame(image, keyframe=index == 0)
        self._encode_audio(pcm)
        return self._sink.take()

    def close(self) -> bytes:
        """Flush both encoders and end the stream; the last bytes."""
        if self._closed:
            return b""
        self._closed = True
        self._container.mux(self._video.encode(None))
        self._container.mux(self._audio.encode(None))
        self._container.close()
        return self._sink.take()

    def abort(self) -> None:
        """Drop the stream (the client went away): frees the encoders without flushing."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except (av.FFmpegError, ValueError, OSError):  # half-written: nothing to keep anyway
                pass

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    def _encode_frame(self, image: np.ndarray, *, keyframe: bool) -> None:
        picture = np.ascontiguousarray(image[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        yuv = self._reformatter.reformat(frame, format="yuv420p", dst_colorspace="ITU601", dst_color_range=1,
                                         interpolation=SCALE_FLAGS)
        yuv.pts = self.frames
        yuv.time_base = Fraction(1, self.fps)
        if keyframe:
            yuv.pict_type = PictureType.I
        self._container.mux(self._video.encode(yuv))
        self.frames += 1

    def _encode_audio(self, pcm: np.ndarray) -> None:
        samples = np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1)
        count = samples.shape[1] // self.channels
        if count == 0:
            return
        frame = av.AudioFrame.from_ndarray(samples[:, : count * self.channels], format="s16",
                                           layout=_LAYOUTS[self.channels])
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples
        frame.time_base = Fraction(1, self.sample_rate)
        self._container.mux(self._audio.encode(frame))
        self.samples += count
