"""Audio inputs for live lip sync: a microphone through sounddevice (PortAudio), or an audio file
played in real time as if it were one.

Both deliver float32 mono blocks at the input's own rate, each with its place on the input's sample
clock and the moment it arrived. sounddevice is imported only when a device is wanted: it raises
OSError at import when the PortAudio library is missing, and that must be one line naming the fix,
not a traceback (nor a failure of everything else that imports this module).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from engines.errors import InputError

BLOCK_S = 0.02  # 20 ms blocks: small next to the mel window's 100 ms look-ahead
FILE_RATE = 48000  # a file is resampled to this (the outputs' AAC rate) whatever it was recorded at
DEVICE_QUEUE_BLOCKS = 250  # 5 s of blocks waiting at most; a stalled reader loses the oldest
LIST_HINT = "run `swapcast live --list-audio` to list audio inputs, or pass an audio FILE to --audio-in"
PORTAUDIO_FIX = ("install PortAudio (Debian/Ubuntu: sudo apt install libportaudio2; Fedora: sudo dnf install "
                 "portaudio; macOS: brew install portaudio), or pass an audio FILE to --audio-in")


class AudioUnavailable(InputError):
    """No audio device can be opened on this machine (PortAudio missing, or no input device)."""


@dataclass(frozen=True)
class AudioDevice:
    index: int  # PortAudio's device index
    name: str
    channels: int  # input channels
    default_rate: float
    host_api: str = ""

    def label(self) -> str:
        return f"{self.index}: {self.name} ({self.channels} ch, {self.default_rate:g} Hz{', ' + self.host_api if self.host_api else ''})"


@dataclass(frozen=True)
class AudioInputStatus:
    """What the doctor and the GUI show: the input devices, or why there are none and the fix."""

    devices: tuple[AudioDevice, ...] = ()
    problem: str = ""
    fix: str = ""

    @property
    def available(self) -> bool:
        return bool(self.devices)


@dataclass(frozen=True)
class AudioInfo:
    name: str  # "mic: USB Audio", "speech.wav"
    rate: int  # samples per second of every block
    is_file: bool = False


@dataclass(frozen=True)
class AudioBlock:
    samples: np.ndarray = field(repr=False)  # float32 mono, −1..1
    start_s: float  # where the block starts on the input's sample clock (seconds since it opened)
    arrived_at: float  # monotonic clock time the block (its last sample) was handed over
    rate: int = FILE_RATE
    heard_at: float | None = None  # when its first sample was heard, where the input knows (a file's playback)

    @property
    def first_heard(self) -> float:
        """When the block's first sample was heard: known, or at the latest its arrival minus its length."""
        return self.heard_at if self.heard_at is not None else self.arrived_at - len(self.samples) / self.rate

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / self.rate


class AudioSource(Protocol):
    """Something that delivers audio blocks in real time. `read` blocks until the next one is due."""

    name: str

    def open(self) -> AudioInfo: ...
    def read(self, timeout: float) -> AudioBlock | None: ...  # None: nothing within timeout
    def close(self) -> None: ...


def now() -> float:
    """The same monotonic clock as the live pipeline's frames."""
    return time.monotonic()


# ---------------------------------------------------------------- PortAudio devices


def _import_sounddevice() -> ModuleType:
    try:
        import sounddevice
    except OSError as error:  # the PortAudio library itself is missing
        raise AudioUnavailable(f"no audio device can be opened: PortAudio is not installed ({error})",
                               PORTAUDIO_FIX) from None
    except ImportError:
        raise AudioUnavailable("no audio device can be opened: the sounddevice package is missing",
                               "re-run ./setup_virtual_env.sh, or pass an audio FILE to --audio-in") from None
    return sounddevice


def list_audio_inputs() -> list[AudioDevice]:
    """The input devices PortAudio sees; AudioUnavailable (one line, with the fix) when it cannot look."""
    sd = _import_sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except Exception as error:  # noqa: BLE001 — PortAudio errors are plain exceptions with a reason
        raise AudioUnavailable(f"audio devices cannot be listed: {error}", PORTAUDIO_FIX) from None
    found = []
    for index, device in enumerate(devices):
        if int(device.get("max_input_channels", 0)) <= 0:
            continue
        api = apis[device["hostapi"]]["name"] if 0 <= device.get("hostapi", -1) < len(apis) else ""
        found.append(AudioDevice(index, str(device["name"]), int(device["max_input_channels"]),
                                 float(device.get("default_samplerate") or FILE_RATE), api))
    return found


def audio_input_status() -> AudioInputStatus:
    try:
        devices = list_audio_inputs()
    except AudioUnavailable as error:
        return AudioInputStatus(problem=error.problem, fix=error.fix or "")
    if not devices:
        return AudioInputStatus(problem="no audio input device found (no microphone)",
                                fix="plug in a microphone, or pass an audio FILE to --audio-in")
    return AudioInputStatus(devices=tuple(devices))


def find_audio_device(spec: str, devices: list[AudioDevice]) -> AudioDevice:
    """`--audio-in 3` (an index) or a part of a device's name, case-insensitive."""
    text = spec.strip()
    if text.isdigit():
        match = next((d for d in devices if d.index == int(text)), None)
    else:
        match = next((d for d in devices if d.name.lower() == text.lower()), None) or next(
            (d for d in devices if text.lower() in d.name.lower()), None)
    if match is None:
        raise InputError(f"audio input '{spec}' not found: no such file, and no input device by that name", LIST_HINT)
    return match


class DeviceAudioSource:
    """A PortAudio input stream; its callback (PortAudio's thread) queues blocks for `read`."""

    def __init__(self, device: AudioDevice) -> None:
        self.device = device
        self.name = f"mic: {device.name}"
        self.rate = int(device.default_rate)
        self._stream: Any = None
        self._blocks: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(DEVICE_QUEUE_BLOCKS)
        self._samples = 0

    def open(self) -> AudioInfo:
        sd = _import_sounddevice()
        self.close()
        self._samples = 0

        def arrived(indata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
            item = (indata[:, 0].astype(np.float32, copy=True), now())
            try:
                self._blocks.put_nowait(item)
            except queue.Full:  # the reader stalled: the newest sound matters more than the oldest
                self._blocks.get_nowait()
                self._blocks.put_nowait(item)

        try:
            stream = sd.InputStream(device=self.device.index, channels=1, samplerate=self.rate, dtype="float32",
                                    blocksize=int(self.rate * BLOCK_S), callback=arrived)
            stream.start()
        except Exception as error:  # noqa: BLE001 — PortAudio says why (busy, unplugged)
            raise InputError(f"audio input '{self.device.name}' cannot be opened: {error}", LIST_HINT) from None
        self._stream = stream
        return AudioInfo(self.name, self.rate)

    def read(self, timeout: float) -> AudioBlock | None:
        try:
            samples, arrived = self._blocks.get(timeout=timeout)
        except queue.Empty:
            return None
        block = AudioBlock(samples, self._samples / self.rate, arrived, self.rate)
        self._samples += len(samples)
        return block

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 — an unplugged device may fail to close; it is gone anyway
                pass


# ---------------------------------------------------------------- a file as a microphone


class FileAudioSource:
    """An audio file (any format PyAV reads, or a video's sound) played in real time, once; after its
    end the "microphone" stays open and delivers silence, as a real one does when nobody speaks."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.ended = False
        self._pending = np.zeros(0, np.float32)
        self._decoded: Iterator[np.ndarray] = iter(())
        self._anchor: float | None = None
        self._samples = 0
        self._block = int(FILE_RATE * BLOCK_S)
        check_audio_file(self.path)

    def open(self) -> AudioInfo:
        self.close()
        self._decoded = self._decode()
        self._pending = np.zeros(0, np.float32)
        self._samples = 0
        self.ended = False
        self._anchor = None  # the clock starts at the first read
        return AudioInfo(self.name, FILE_RATE, is_file=True)

    def _decode(self) -> Iterator[np.ndarray]:
        import av

        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=FILE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)

    def _next_samples(self) -> np.ndarray:
        while len(self._pending) < self._block and not self.ended:
            chunk = next(self._decoded, None)
            if chunk is None:
                self.ended = True
                break
            self._pending = np.concatenate([self._pending, chunk])
        block, self._pending = self._pending[: self._block], self._pending[self._block:]
        if len(block) < self._block:  # the end of the file: silence from here on
            block = np.concatenate([block, np.zeros(self._block - len(block), np.float32)])
        return block

    def read(self, timeout: float) -> AudioBlock | None:
        start_s = self._samples / FILE_RATE
        if self._anchor is not None:
            due = self._anchor + start_s + BLOCK_S  # a block is there once its last sample has "arrived"
            if due - now() > timeout:
                time.sleep(timeout)
                return None
        samples = self._next_samples()
        if self._anchor is None:
            # The clock starts once the first block is decoded: opening the file is not playing it.
            self._anchor = now() - BLOCK_S
        heard_at = self._anchor + start_s  # real-time playback: the exact moment each sample plays
        wait = heard_at + BLOCK_S - now()
        if wait > 0:
            time.sleep(wait)
        self._samples += len(samples)
        return AudioBlock(samples, start_s, now(), FILE_RATE, heard_at)

    def close(self) -> None:
        close = getattr(self._decoded, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # still running on the reader's thread: it ends there
                pass
        self._decoded = iter(())


def check_audio_file(path: Path) -> float:
    """The file's audio length in seconds; one-line InputError when it has no sound PyAV can read."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or "not a media file PyAV can read"
        raise InputError(f"audio input {path}: {reason}", "give a .wav, .mp3, .m4a or a video with sound") from None
    try:
        if not container.streams.audio:
            raise InputError(f"{path}: has no audio stream", "give a file with sound (.wav, .mp3, .m4a, a video with audio)")
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base
    finally:
        container.close()


def open_audio_input(spec: str) -> AudioSource:
    """`--audio-in`: an existing file, else a device by index or name. One line when it is neither."""
    path = Path(spec).expanduser()
    if path.is_file():
        return FileAudioSource(path)
    try:
        devices = list_audio_inputs()
    except AudioUnavailable as error:
        raise AudioUnavailable(f"audio input '{spec}' is not a file, and {error.problem}", error.fix) from None
    return DeviceAudioSource(find_audio_device(spec, devices))


__all__ = [
    "AudioBlock", "AudioDevice", "AudioInfo", "AudioInputStatus", "AudioSource", "AudioUnavailable",
    "DeviceAudioSource", "FileAudioSource", "audio_input_status", "check_audio_file", "find_audio_device",
    "list_audio_inputs", "open_audio_input",
]
