"""The audio a lip-synced video is driven by: what it is (length, rate), and its samples as the mel
spectrogram wants them (16 kHz mono float). Any file PyAV reads: WAV, MP3, AAC/M4A, Opus, FLAC, or
the sound of a video. The writer muxes the file itself as the output's sound (VideoWriter audio_file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from engines.errors import InputError

SPEECH_RATE = 16000  # what the lip syncer's mel spectrogram is computed at
AUDIO_FIX = "give a file with sound: .wav, .mp3, .m4a, .ogg, .flac, or a video with an audio track"


@dataclass(frozen=True)
class SpeechAudio:
    path: Path
    duration_s: float
    sample_rate: int  # the file's own
    channels: int
    codec: str


def _open(path: Path) -> Any:
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(f"the audio {path.name} cannot be read ({reason})", AUDIO_FIX) from None


def probe_speech(path: str | Path) -> SpeechAudio:
    """The audio file's first sound track; InputError (one line) if it has none or it is empty."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio not found: {path}", "check the path given with -a / --lip-sync")
    container = _open(path)
    try:
        if not container.streams.audio:
            raise InputError(f"the audio {path.name} has no audio stream", AUDIO_FIX)
        stream = container.streams.audio[0]
        context = stream.codec_context
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:  # raw streams without a length: count what decodes
            duration = sum(frame.samples for frame in container.decode(stream)) / (context.sample_rate or 1)
        if duration <= 0:
            raise InputError(f"the audio {path.name} is empty", AUDIO_FIX)
        return SpeechAudio(path, duration, int(context.sample_rate or 0), int(context.channels or 1), context.name)
    finally:
        container.close()


def decode_speech(path: str | Path, rate: int = SPEECH_RATE) -> np.ndarray:
    """The whole first sound track as mono float32 in −1..1 at `rate` (FFmpeg's resampler mixes and
    resamples), from the file's start."""
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.audio:
            raise InputError(f"the audio {path.name} has no audio stream", AUDIO_FIX)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pieces: list[np.ndarray] = []
        for frame in container.decode(container.streams.audio[0]):
            frame.pts = None  # the resampler keeps its own clock: gaps in the stream do not shift it
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except av.FFmpegError as error:
        raise InputError(f"the audio {path.name} could not be decoded ({error})", AUDIO_FIX) from None
    finally:
        container.close()
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0)
