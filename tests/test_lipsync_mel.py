"""The lip-sync mel spectrogram: pinned to librosa for Wav2Lip's parameters, windows per video frame,
the same windows when the audio arrives in chunks, and any PCM brought to 16 kHz mono."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from engines.builtin.lipsync import mel as melmod
from engines.builtin.lipsync.mel import (
    HOP, LOOKAHEAD_S, MEL_STEPS, N_FFT, N_MELS, SAMPLE_RATE, SILENCE, MelStream, mel_filter_bank, mel_spectrogram,
    mel_window, to_16k_mono,
)
from engines.testing.speech import speech_like

librosa = pytest.importorskip("librosa")  # the dev extra


def librosa_wav2lip_mel(samples: np.ndarray) -> np.ndarray:
    """Wav2Lip's audio.melspectrogram written with librosa (its reference implementation)."""
    emphasised = scipy.signal.lfilter([1.0, -0.97], [1.0], samples.astype(np.float64))
    spectrum = np.abs(librosa.stft(emphasised, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, center=True,
                                   pad_mode="constant"))
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=55.0, fmax=7600.0)
    decibels = 20.0 * np.log10(np.maximum(1e-5, basis @ spectrum)) - 20.0
    return np.clip(8.0 * (decibels + 100.0) / 100.0 - 4.0, -4.0, 4.0)


def test_filter_bank_is_librosas_slaney_bank() -> None:
    expected = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=55.0, fmax=7600.0)
    assert mel_filter_bank().shape == (80, 401)
    np.testing.assert_allclose(mel_filter_bank(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_spectrogram_matches_librosa_within_tolerance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    audio = speech_like(1.3, [(0.2, 0.7), (0.9, 1.2)]) + rng.normal(0, 0.01, int(1.3 * SAMPLE_RATE)).astype(np.float32)
    ours = mel_spectrogram(audio)
    theirs = librosa_wav2lip_mel(audio)
    assert ours.shape == theirs.shape == (80, 1 + audio.size // HOP)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
    assert ours.max() > 0.0 and ours.min() >= -4.0  # the voice is loud, the scale is Wav2Lip's


def test_silence_is_the_floor_everywhere() -> None:
    assert np.all(mel_spectrogram(np.zeros(SAMPLE_RATE, np.float32)) == SILENCE)


def test_window_is_centred_on_the_frame_time_and_padded_with_silence() -> None:
    audio = speech_like(1.0, [(0.5, 0.6)])
    mel = mel_spectrogram(audio)
    centred = mel_window(mel, 0.55)
    assert centred.shape == (N_MELS, MEL_STEPS)
    # Columns are 12.5 ms apart: the burst (0.5–0.6 s) fills the middle of the window at 0.55 s...
    loud = centred.mean(axis=0)
    assert loud[4:12].min() > -2.0 and loud[0] == SILENCE and loud[-1] == SILENCE
    # ...and the window at 0.35 s ends (t + 0.1 s) before the burst starts.
    assert np.all(mel_window(mel, 0.35) == SILENCE)
    # Before the audio's start and after its end: silence, not an error.
    assert np.all(mel_window(mel, -1.0) == SILENCE) and np.all(mel_window(mel, 5.0) == SILENCE)
    np.testing.assert_array_equal(mel_window(mel, 0.0)[:, 8:], mel[:, :8])
    assert np.all(mel_window(mel, 0.0)[:, :8] == SILENCE)


def test_stream_gives_the_offline_windows_once_the_lookahead_has_arrived() -> None:
    audio = speech_like(2.0, [(0.3, 0.8), (1.2, 1.6)])
    offline = mel_spectrogram(audio)
    stream = MelStream()
    rng = np.random.default_rng(3)
    position, checked = 0, 0
    while position < audio.size:
        size = int(rng.integers(80, 900))  # capture callbacks come in odd sizes
        stream.push(audio[position:position + size])
        position += size
        assert stream.latest_time == pytest.approx(min(position, audio.size) / SAMPLE_RATE)
        t = stream.latest_time - LOOKAHEAD_S
        window = stream.window_at(t)
        assert window is not None
        np.testing.assert_allclose(window, mel_window(offline, t), atol=1e-4)
        assert stream.window_at(t + 0.01) is None  # its look-ahead has not arrived yet
        checked += 1
    assert checked > 50


def test_stream_fills_a_gap_with_silence_and_keeps_only_a_few_seconds() -> None:
    stream = MelStream(keep_s=1.0)
    voice = speech_like(0.5, [(0.0, 0.5)])
    stream.push(voice, t0=0.0)
    stream.push(voice, t0=2.0)  # half a second of audio lost on the way: silence, on the same clock
    assert stream.latest_time == pytest.approx(2.5)
    assert np.all(stream.window_at(1.25) == SILENCE)
    assert stream.window_at(2.25).mean() > -2.0
    assert stream._buffer.size <= SAMPLE_RATE  # bounded memory
    stream.push(np.zeros(SAMPLE_RATE * 5, np.float32))
    assert stream._buffer.size <= SAMPLE_RATE and stream.latest_time == pytest.approx(7.5)


def test_any_pcm_becomes_16k_mono_without_changing_pitch_or_length() -> None:
    rate, seconds, hz = 48000, 0.5, 440.0
    t = np.arange(int(rate * seconds)) / rate
    left = np.sin(2 * np.pi * hz * t)
    stereo = np.stack([left, left], axis=1)  # (N, 2)
    pcm16 = (stereo * 0.5 * 32767).astype(np.int16).reshape(-1)  # interleaved int16
    mono = to_16k_mono(pcm16, rate, channels=2)
    assert mono.dtype == np.float32 and mono.size == int(SAMPLE_RATE * seconds)
    assert 0.45 < np.abs(mono).max() < 0.55
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.fft.rfftfreq(mono.size, 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(hz, abs=2.0)
    same = speech_like(0.2, [(0.0, 0.2)])
    np.testing.assert_array_equal(to_16k_mono(same, SAMPLE_RATE, 1), same)


def test_lookahead_is_what_the_last_column_needs() -> None:
    # 8 columns of 12.5 ms after t, less one (centres), plus half an STFT frame.
    assert LOOKAHEAD_S == pytest.approx((7 * HOP + N_FFT // 2) / SAMPLE_RATE)
    assert melmod.COLUMNS_PER_SECOND == 80
