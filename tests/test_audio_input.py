"""Audio inputs for live lip sync: a file played as a microphone, device lookup, and the one line a
user gets (CLI and doctor) when PortAudio is missing; the delay line that holds video for its audio."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys

import numpy as np
import pytest

from app.cli.main import main
from app.devices.audio_input import (
    FILE_RATE, AudioDevice, AudioUnavailable, FileAudioSource, find_audio_device, list_audio_inputs,
    open_audio_input,
)
from app.media.synth import make_clip
from app.pipeline.frame import LiveFrame, now
from app.pipeline.lip_sync import DelayLine
from app.pipeline.stats import PipelineStats
from engines.errors import InputError
from engines.testing.speech import speech_like, write_wav


class _NoPortAudio(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of sounddevice fail the way they do where libportaudio2 is not installed."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001 — the import system's signature
        return importlib.machinery.ModuleSpec(name, self) if name == "sounddevice" else None

    def create_module(self, spec):  # noqa: ANN001
        raise OSError("PortAudio library not found")

    def exec_module(self, module) -> None:  # noqa: ANN001
        pass


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])


def test_a_file_plays_as_a_microphone_block_by_block_then_silence(tmp_path) -> None:
    voice = speech_like(0.5, [(0.1, 0.4)], rate=16000)
    source = FileAudioSource(write_wav(tmp_path / "voice.wav", voice, 16000))
    info = source.open()
    assert info.rate == FILE_RATE and info.is_file
    blocks = []
    while len(blocks) < 35:  # 0.7 s of 20 ms blocks: the file, then the "microphone" goes quiet
        block = source.read(0.5)
        if block is not None:
            blocks.append(block)
    source.close()
    # Back to back on the input's clock, handed over in order.
    assert all(abs(b.start_s - a.end_s) < 1e-9 for a, b in zip(blocks, blocks[1:]))
    assert all(b.arrived_at >= a.arrived_at for a, b in zip(blocks, blocks[1:]))
    samples = np.concatenate([b.samples for b in blocks])
    level = [float(np.abs(samples[int(t * FILE_RATE):int((t + 0.05) * FILE_RATE)]).max()) for t in (0.0, 0.2, 0.6)]
    assert level[0] < 0.01 and level[1] > 0.2 and level[2] == 0.0  # silence, the voice, silence after the end
    assert source.ended


def test_a_stereo_file_at_another_rate_becomes_mono_at_the_input_rate(tmp_path) -> None:
    clip = make_clip(tmp_path / "talk.mp4", frames=15, audio="aac", audio_rate=44100).path
    source = open_audio_input(str(clip))
    assert isinstance(source, FileAudioSource)
    source.open()
    block = source.read(0.5) or source.read(0.5)
    source.close()
    assert block is not None and block.samples.ndim == 1 and block.samples.dtype == np.float32
    assert block.rate == FILE_RATE


def test_a_file_without_sound_is_one_line_naming_it(tmp_path) -> None:
    mute = make_clip(tmp_path / "mute.mp4", frames=5).path
    with pytest.raises(InputError) as raised:
        open_audio_input(str(mute))
    assert "mute.mp4" in raised.value.one_line() and "no audio stream" in raised.value.one_line()


def test_devices_are_found_by_index_or_part_of_the_name() -> None:
    devices = [AudioDevice(2, "HDA Intel PCH: ALC892 Analog", 2, 44100.0), AudioDevice(5, "Blue Yeti USB", 1, 48000.0)]
    assert find_audio_device("5", devices).name == "Blue Yeti USB"
    assert find_audio_device("yeti", devices).index == 5
    with pytest.raises(InputError) as raised:
        find_audio_device("Rode NT", devices)
    line = raised.value.one_line()
    assert "Rode NT" in line and "swapcast live --list-audio" in line


def test_without_portaudio_listing_and_opening_say_so_in_one_line(no_portaudio, capsys) -> None:
    with pytest.raises(AudioUnavailable) as raised:
        list_audio_inputs()
    assert "PortAudio is not installed" in raised.value.problem and "libportaudio2" in (raised.value.fix or "")
    assert main(["live", "--list-audio"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "PortAudio" in err and "--audio-in" in err
    with pytest.raises(AudioUnavailable) as raised:
        open_audio_input("USB mic")  # not a file, and no device can be looked up
    assert "'USB mic'" in raised.value.one_line() and "PortAudio" in raised.value.one_line()


def test_doctor_has_an_audio_input_line_with_the_fix_when_portaudio_is_missing(no_portaudio, capsys) -> None:
    main(["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    audio = checks["audio input"]
    assert audio["status"] == "warn" and "PortAudio" in audio["summary"] and "libportaudio2" in audio["fix"]
    assert audio["needed_for"] == []  # a warning: live swapping (and lip sync from a file) still work


# ---------------------------------------------------------------- the delay line


def frame(index: int, at: float) -> LiveFrame:
    return LiveFrame(np.zeros((2, 2, 3), np.uint8), at, index)


def test_the_delay_line_holds_frames_until_their_audio_is_in_and_drops_stale_ones() -> None:
    audio_until = [0.0]  # capture time up to which "audio" has arrived
    stats = PipelineStats()
    line = DelayLine(lambda f: f.captured_at <= audio_until[0], stats, max_hold_s=60.0)
    start = now()
    for i in range(4):
        line.put(frame(i, start + i))
    assert line.get(timeout=0.05) is None  # no audio yet: nothing leaves
    audio_until[0] = start + 0.5
    line.wake()
    assert line.get(timeout=0.05).index == 0
    audio_until[0] = start + 2.5  # frames 1 and 2 ready at once: the newer wins, the older is dropped
    line.wake()
    assert line.get(timeout=0.05).index == 2
    assert stats.dropped == 1 and len(line) == 1  # frame 3 still waits for its audio


def test_the_delay_line_lets_a_frame_go_when_its_audio_is_too_late() -> None:
    line = DelayLine(lambda f: False, PipelineStats(), max_hold_s=0.05)  # the audio never comes
    line.put(frame(0, now()))
    released = line.get(timeout=2.0)
    assert released is not None and released.index == 0
    assert len(line.held_ms()) == 1  # its wait counts in the A/V delay the stats show
