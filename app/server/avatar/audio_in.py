"""A client's audio, as it arrives over the WebSocket: binary frames → int16 samples (samples × channels).

Two formats, named when the socket opens:
- `pcm16`: raw 16-bit little-endian samples, interleaved, at the rate and channel count given at open.
  Each binary frame must hold whole samples (a multiple of channels × 2 bytes).
- `opus`: Opus in Ogg or WebM (what browsers' MediaRecorder and `ffmpeg -c:a libopus` send), split
  anywhere. PyAV demuxes and decodes it on a thread of its own that reads from a pipe the frames are
  fed into; `feed()` returns once that thread has used up what it was given, so the samples a chunk
  yields come back with the chunk. The decoded rate and channels are the stream's (Opus: 48 kHz).

A frame that cannot be decoded raises BadAudio with one line naming the problem and the fix.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import av
import numpy as np

FEED_TIMEOUT_S = 10.0  # a decoder thread that neither eats nor fails within this is reported, not waited on
MAX_RATE = 192_000
_LAYOUTS = {1: "mono", 2: "stereo"}
_EMPTY = np.zeros((0, 1), np.int16)


class AudioFormat(str, Enum):
    PCM16 = "pcm16"
    OPUS = "opus"


class BadAudio(Exception):
    """The client's audio cannot be used: `str()` is the one-line reason the socket is closed with."""


@dataclass(frozen=True)
class AudioSpec:
    """What the client said it sends (the socket's query: `format`, `rate`, `channels`)."""

    format: AudioFormat = AudioFormat.PCM16
    rate: int = 16_000  # PCM16 only: Opus says its own
    channels: int = 1

    @classmethod
    def parse(cls, format: str | None, rate: str | None, channels: str | None) -> AudioSpec:
        try:
            kind = AudioFormat(format or AudioFormat.PCM16.value)
        except ValueError:
            raise BadAudio(f"unknown audio format {format!r} — use format=pcm16 or format=opus") from None
        try:
            hz = int(rate) if rate else cls.rate
            count = int(channels) if channels else cls.channels
        except ValueError:
            raise BadAudio("rate and channels must be whole numbers — e.g. ?rate=16000&channels=1") from None
        if not 8_000 <= hz <= MAX_RATE:
            raise BadAudio(f"rate={hz} is not an audio rate — send 8000–{MAX_RATE} Hz (16000 or 48000 are usual)")
        if count not in _LAYOUTS:
            raise BadAudio(f"channels={count} — send mono (1) or stereo (2)")
        return cls(kind, hz, count)


class AudioDecoder(Protocol):
    rate: int  # of the samples returned (known once the first ones are)
    channels: int

    def feed(self, data: bytes) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...

    def close(self) -> None: ...


class Pcm16Decoder:
    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels

    def feed(self, data: bytes) -> np.ndarray:
        step = 2 * self.channels
        if len(data) % step:
            raise BadAudio(f"a PCM16 frame of {len(data)} bytes is not whole samples — send multiples of "
                           f"{step} bytes ({self.channels} channel(s) × 16-bit little-endian)")
        return np.frombuffer(data, dtype="<i2").astype(np.int16).reshape(-1, self.channels)

    def finish(self) -> np.ndarray:
        return np.zeros((0, self.channels), np.int16)

    def close(self) -> None:
        pass


class _Pipe(io.RawIOBase):
    """Bytes fed by one thread, read (blocking) by the demuxer's. Tells when the reader went hungry."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._ended = False
        self._cond = threading.Condition()
        self.hungry = threading.Event()  # the reader waits for bytes (it has used up all it was given)

    def readable(self) -> bool:
        return True

    def feed(self, data: bytes) -> None:
        with self._cond:
            self.hungry.clear()
            self._buffer += data
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def readinto(self, target: Any) -> int:
        with self._cond:
            while not self._buffer and not self._ended:
                self.hungry.set()
                self._cond.wait()
            count = min(len(target), len(self._buffer))
            target[:count] = self._buffer[:count]
            del self._buffer[:count]
            return count


def _container_format(head: bytes) -> str:
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # WebM is Matroska to FFmpeg's demuxer
    raise BadAudio("the audio is not Opus in Ogg or WebM (it starts with neither 'OggS' nor the EBML header) — "
                   "send an Ogg/WebM Opus stream from its first byte, or use format=pcm16")


class OpusDecoder:
    """Opus in Ogg/WebM, decoded on its own thread as the bytes come."""

    def __init__(self) -> None:
        self.rate = 48_000
        self.channels = 1
        self._pipe = _Pipe()
        self._lock = threading.Lock()
        self._decoded: list[np.ndarray] = []
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._head = b""

    def feed(self, data: bytes) -> np.ndarray:
        if self._thread is None:
            self._head += data
            if len(self._head) < 4:
                return self._take()
            container = _container_format(self._head)
            self._thread = threading.Thread(target=self._run, args=(container,), name="avatar-opus", daemon=True)
            self._pipe.feed(self._head)
            self._thread.start()
        else:
            self._pipe.feed(data)
        # Wait until the thread has used this up (it asks for more) or stopped.
        deadline_hit = not _wait_any(self._pipe.hungry, self._done, FEED_TIMEOUT_S)
        if deadline_hit:
            raise BadAudio(f"the Opus decoder made no progress in {FEED_TIMEOUT_S:g} s — send smaller chunks")
        return self._take()

    def finish(self) -> np.ndarray:
        self._pipe.end()
        if self._thread is not None:
            self._thread.join(FEED_TIMEOUT_S)
        return self._take()

    def close(self) -> None:
        self._pipe.end()

    def _take(self) -> np.ndarray:
        with self._lock:
            if self._error is not None:
                raise BadAudio(self._error)
            parts, self._decoded = self._decoded, []
        if not parts:
            return np.zeros((0, self.channels), np.int16)
        return np.concatenate(parts)

    def _run(self, container_format: str) -> None:
        try:
            with av.open(self._pipe, mode="r", format=container_format) as container:
                if not container.streams.audio:
                    raise BadAudio("the stream holds no audio track — send Opus audio in Ogg/WebM")
                stream = container.streams.audio[0]
                if stream.codec_context.name != "opus":
                    raise BadAudio(f"the audio track is {stream.codec_context.name}, not Opus — "
                                   "encode with Opus, or send format=pcm16")
                channels = min(2, stream.codec_context.channels or 1)
                self.channels = channels
                self.rate = stream.codec_context.sample_rate or 48_000
                resampler = av.AudioResampler(format="s16", layout=_LAYOUTS[channels], rate=self.rate)
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        samples = out.to_ndarray().reshape(-1, channels)
                        with self._lock:
                            self._decoded.append(samples)
        except BadAudio as error:
            self._fail(str(error))
        except (av.FFmpegError, ValueError, OSError) as error:
            self._fail(f"the Opus stream cannot be decoded ({error}) — send Opus in Ogg or WebM, unaltered")
        finally:
            self._done.set()
            self._pipe.hungry.set()

    def _fail(self, message: str) -> None:
        with self._lock:
            self._error = message


def _wait_any(first: threading.Event, second: threading.Event, timeout: float) -> bool:
    """True once either event is set (polled: threading has no wait-for-any)."""
    step = 0.002
    waited = 0.0
    while waited < timeout:
        if first.is_set() or second.is_set():
            return True
        first.wait(step)
        waited += step
    return first.is_set() or second.is_set()


def decoder_for(spec: AudioSpec) -> AudioDecoder:
    if spec.format is AudioFormat.OPUS:
        return OpusDecoder()
    return Pcm16Decoder(spec.rate, spec.channels)
