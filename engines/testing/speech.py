"""Speech-like test audio: voiced bursts (a 150 Hz voice with harmonics up to 4 kHz) between exact
silences, so lip-sync tests know which frames should move the mouth and which must not."""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

VOICE_HZ = 150.0
HARMONICS_UP_TO_HZ = 4000.0
AMPLITUDE = 0.3
FADE_S = 0.01  # soft edges, as a voice has (no clicks)


def speech_like(seconds: float, bursts: Sequence[tuple[float, float]] = ((0.5, 1.5),),
                rate: int = 16000) -> np.ndarray:
    """Mono float32 in −1..1, `seconds` long: voiced during each (start, end) burst, exactly 0 elsewhere."""
    total = int(round(seconds * rate))
    t = np.arange(total) / rate
    voice = np.zeros(total, np.float64)
    for k in range(1, int(HARMONICS_UP_TO_HZ // VOICE_HZ) + 1):
        voice += np.sin(2 * np.pi * VOICE_HZ * k * t + 0.7 * k) / k
    voice *= AMPLITUDE / np.abs(voice).max(initial=1e-9)
    envelope = np.zeros(total, np.float64)
    for start, end in bursts:
        inside = (t >= start) & (t < end)
        ramp = np.minimum(t - start, end - t) / FADE_S
        envelope[inside] = np.minimum(1.0, ramp[inside])
    return (voice * envelope).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """Writes mono 16-bit PCM (the format every audio reader takes); returns the path."""
    pcm = np.clip(np.asarray(samples, np.float32) * 32767.0, -32768, 32767).astype("<i2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    tmp.replace(path)
    return path
