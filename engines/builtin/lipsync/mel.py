"""Speech → the 80-band mel spectrogram Wav2Lip was trained on, offline (whole clips) and streaming.

The numbers are Wav2Lip's hparams (what FaceFusion's wav2lip_96 ONNX files expect too): 16 kHz mono,
pre-emphasis 0.97, a Hann STFT of 800 samples (50 ms) every 200 (12.5 ms) centred on each hop,
magnitudes through a Slaney mel filter bank (80 bands, 55–7600 Hz), 20·log10 with a −100 dB floor
and a 20 dB reference, then scaled symmetrically into −4..4. One column per 12.5 ms: column k is
centred at k × 12.5 ms. A frame shown at t seconds gets the 16 columns centred on t (±100 ms), so a
live stream needs 112.5 ms of audio beyond the frame (`LOOKAHEAD_S`): video waits for audio.

The STFT is scipy's; the filter bank follows Slaney's formulae (librosa's default), pinned to
librosa's output by tests/test_lipsync_mel.py.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
import scipy.signal

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
MEL_STEPS = 16  # 16 × 12.5 ms = one 200 ms window per video frame
# Audio needed past a frame's time before its window is complete: the window's last column is
# centred 87.5 ms after t and its STFT frame reaches 25 ms further (100 ms + one 12.5 ms hop).
LOOKAHEAD_S = (MEL_STEPS // 2 * HOP + N_FFT // 2 - HOP) / SAMPLE_RATE  # 0.1125

PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
COLUMNS_PER_SECOND = SAMPLE_RATE / HOP  # 80
SILENCE = -MAX_ABS_VALUE  # what silence (and anything before or after the audio) reads as

# How much a live stream keeps: windows are asked for near the newest audio, never seconds back.
STREAM_KEEP_S = 4.0
_MARGIN_COLUMNS = 3  # STFT frames overlap 2 hops each side; one more for the pre-emphasis


@lru_cache(maxsize=4)
def mel_filter_bank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                    fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on Slaney's mel scale, area-normalised (Slaney)."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    distance = edges_hz[:, None] - fft_hz[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    weights.setflags(write=False)
    return weights


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz < _MIN_LOG_HZ:
        return hz / _F_SP
    return _MIN_LOG_MEL + float(np.log(hz / _MIN_LOG_HZ)) / _LOG_STEP


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    return np.where(mels < _MIN_LOG_MEL, mels * _F_SP, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mels - _MIN_LOG_MEL)))


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Mono float samples at 16 kHz in −1..1 → (80, 1 + len // 200) float32 in −4..4 (see the module)."""
    wave = np.asarray(samples, dtype=np.float64).reshape(-1)
    emphasised = scipy.signal.lfilter([1.0, -PREEMPHASIS], [1.0], wave)
    # Centre frame k on sample k·HOP: half a window of zeros each side (librosa's center=True).
    padded = np.pad(emphasised, N_FFT // 2)
    window = scipy.signal.get_window("hann", N_FFT)
    _, _, spectrum = scipy.signal.stft(padded, window=window, nperseg=N_FFT, noverlap=N_FFT - HOP,
                                       boundary=None, padded=False)
    magnitude = np.abs(spectrum) * window.sum()  # scipy scales by 1/sum(window); Wav2Lip does not
    mel = mel_filter_bank() @ magnitude
    decibels = 20.0 * np.log10(np.maximum(1e-5, mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def window_start(t: float) -> int:
    """The first mel column of the window of a frame shown at `t` seconds. The column at t rounds
    down (at most 12.5 ms early), so the window never needs audio past t + LOOKAHEAD_S."""
    return int(np.floor(t * COLUMNS_PER_SECOND + 1e-6)) - MEL_STEPS // 2


def columns(mel: np.ndarray, start: int, first_column: int = 0) -> np.ndarray:
    """(80, 16) columns start..start+15 of `mel`, whose column 0 is global column `first_column`;
    columns it does not hold read as silence."""
    window = np.full((N_MELS, MEL_STEPS), SILENCE, np.float32)
    lo = start - first_column
    take_from, take_to = max(0, lo), min(mel.shape[1], lo + MEL_STEPS)
    if take_to > take_from:
        window[:, take_from - lo:take_to - lo] = mel[:, take_from:take_to]
    return window


def mel_window(mel: np.ndarray, t: float) -> np.ndarray:
    """The (80, 16) window of a frame shown at `t` seconds: centred on t, covering [t − 0.1, t + 0.1);
    silence before the audio's start and after its end."""
    return columns(mel, window_start(t))


def to_16k_mono(samples: np.ndarray, rate: int, channels: int) -> np.ndarray:
    """Any PCM (float −1..1, or int16/int32 scaled to it), interleaved 1-D or (N, channels), at `rate`
    → mono float32 at 16 kHz (polyphase resampling)."""
    data = np.asarray(samples)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = data.astype(np.float32, copy=False)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    data = data.reshape(-1)
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(data, dtype=np.float32)
    common = gcd(int(rate), SAMPLE_RATE)
    return scipy.signal.resample_poly(data, SAMPLE_RATE // common, int(rate) // common).astype(np.float32)


class MelStream:
    """Mel windows from audio that arrives in chunks (live capture, an API session).

    Samples are placed on one clock: sample n is at n / 16000 s (t0 of the first push, default 0,
    sets where the clock starts). A chunk pushed with a `t0` past the end leaves silence in the gap;
    one that goes back in time starts the buffer again. Only the last few seconds are kept.
    """

    def __init__(self, keep_s: float = STREAM_KEEP_S) -> None:
        self._keep = int(keep_s * SAMPLE_RATE)
        self._buffer = np.zeros(0, np.float32)
        self._first = 0  # the sample number of _buffer[0]

    @property
    def latest_time(self) -> float:
        """Seconds of audio received (the time just past the newest sample)."""
        return (self._first + self._buffer.size) / SAMPLE_RATE

    def push(self, samples: np.ndarray, t0: float | None = None) -> None:
        """Adds mono float32 samples at 16 kHz; `t0`: the time of the first one (default: right after
        the previous chunk)."""
        chunk = np.asarray(samples, dtype=np.float32).reshape(-1)
        end = self._first + self._buffer.size
        if t0 is not None:
            start = int(round(t0 * SAMPLE_RATE))
            if self._buffer.size == 0 or start < end:
                self._buffer, self._first = np.zeros(0, np.float32), start
            elif start > end:
                chunk = np.concatenate([np.zeros(start - end, np.float32), chunk])
        self._buffer = np.concatenate([self._buffer, chunk])
        excess = self._buffer.size - self._keep
        if excess > 0:
            self._buffer = self._buffer[excess:]
            self._first += excess

    def window_at(self, t: float) -> np.ndarray | None:
        """The (80, 16) window of a frame shown at `t`, the same as `mel_window` of the whole audio
        would give; None until audio up to t + LOOKAHEAD_S has arrived."""
        if self.latest_time + 1e-9 < t + LOOKAHEAD_S:
            return None
        start = window_start(t)
        # Compute only the columns asked for, plus a margin so the edges of the slice do not
        # leak into them (STFT frames span ±2 hops).
        first_column = max(start - _MARGIN_COLUMNS, -(-self._first // HOP))
        lo = first_column * HOP - self._first
        hi = min(self._buffer.size, (start + MEL_STEPS + _MARGIN_COLUMNS) * HOP - self._first)
        if hi <= lo:
            return columns(np.zeros((N_MELS, 0), np.float32), start)
        return columns(mel_spectrogram(self._buffer[lo:hi]), start, first_column)
