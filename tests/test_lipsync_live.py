"""Live lip sync from an audio input: a WAV file played in real time as the microphone moves the
kit face's mouth in the camera video and in avatar mode; recordings and streams carry the sound in
sync with the picture; the stats say the audio-to-frame latency and the A/V delay; bad audio inputs
are one line; a failing frame never ends the stream."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from app.cli.main import main
from app.media.synth import make_clip
from app.pipeline.api import LiveConfig, SessionState
from app.pipeline.session import LiveSession
from app.pipeline.testing import PassEngine, wait_until
from engines.imaging import read_image
from engines.testing.lipsync_model import MOUTH_BGR
from engines.testing.speech import speech_like, write_wav

BURSTS = [(0.7, 1.9)]  # long enough to judge several frames well inside it, however slow the machine
EDGE_S = 0.2  # a frame's mel window spans ±0.1 s (and the encoder smears a little): judge frames clear of edges


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("audio") / "speech.wav", speech_like(3.5, BURSTS))


def mouth_pixels(image: np.ndarray) -> int:
    """Pixels of the colour the kit's lip syncer paints inside an open mouth (after H.264)."""
    diff = np.abs(image.astype(np.int16) - np.asarray(MOUTH_BGR, np.int16))
    return int(np.count_nonzero((diff[..., 0] < 30) & (diff[..., 1] < 30) & (diff[..., 2] < 35)))


def read_recording(path: Path) -> tuple[list[tuple[float, np.ndarray]], np.ndarray, int]:
    """(time, BGR frame) for each video frame, and the audio track as mono float samples + rate."""
    with av.open(str(path)) as container:
        frames = [(float(f.time), f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return frames, audio, rate


def voicing(audio: np.ndarray, rate: int, t: float) -> str:
    """'voiced' / 'silent' when the recorded sound within ±EDGE_S of t is all one or the other, else ''."""
    step = int(rate * 0.01)
    part = audio[max(0, int((t - EDGE_S) * rate)): int((t + EDGE_S) * rate)]
    levels = [float(np.sqrt(np.mean(part[i:i + step] ** 2))) for i in range(0, len(part) - step + 1, step)]
    if levels and min(levels) > 0.05:
        return "voiced"
    if levels and max(levels) < 0.005:
        return "silent"
    return ""


def by_voicing(frames: list[tuple[float, np.ndarray]], audio: np.ndarray, rate: int) -> dict[str, list[np.ndarray]]:
    groups: dict[str, list[np.ndarray]] = {"voiced": [], "silent": []}
    for t, image in frames:
        kind = voicing(audio, rate, t)
        if kind:
            groups[kind].append(image)
    return groups


def test_camera_with_a_wav_input_moves_the_mouth_with_the_bursts_in_the_recording(
        kit_dir: Path, speech: Path, tmp_path: Path, capsys) -> None:
    out, stats_file = tmp_path / "live.mp4", tmp_path / "stats.json"
    code = main(["--models", str(kit_dir), "live", "--lip-sync", "--audio-in", str(speech),
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--record", str(out),
                 "--duration", "3.4", "--stats-json", str(stats_file)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "lip sync: audio→frame p50" in printed and "A/V delay" in printed  # the status line
    stats = json.loads(stats_file.read_text())
    assert stats["lip_sync"] is True and stats["audio_input"] == speech.name
    assert stats["audio_latency_ms_p95"] >= stats["audio_latency_ms_p50"] > 0 and stats["av_delay_ms"] > 0

    frames, audio, rate = read_recording(out)
    # The recording's sound is the input's, and it lasts as long as the picture.
    assert abs(len(audio) / rate - frames[-1][0]) < 0.15
    groups = by_voicing(frames, audio, rate)
    assert len(groups["voiced"]) >= 4 and len(groups["silent"]) >= 4
    # Frames shown while the recording says "voice" have the mouth open; frames in its silences
    # have it shut: lips follow the sound as muxed beside them, i.e. within the measured delay.
    voiced = [mouth_pixels(image) for image in groups["voiced"]]
    silent = [mouth_pixels(image) for image in groups["silent"]]
    assert min(voiced) > max(silent) + 1000, (voiced, silent)


def test_avatar_photo_to_a_recording_with_audio_changes_only_the_mouth_and_only_in_voice(
        kit_dir: Path, speech: Path, tmp_path: Path, capsys) -> None:
    photo = kit_dir / "samples" / "target.png"
    out = tmp_path / "avatar.mp4"
    code = main(["--models", str(kit_dir), "live", "--avatar", str(photo), "--audio-in", str(speech),
                 "--record", str(out), "--duration", "3.2"])
    assert code == 0, capsys.readouterr()

    frames, audio, rate = read_recording(out)
    with av.open(str(out)) as container:
        sound = container.streams.audio[0]
        assert sound.codec_context.name == "aac" and sound.channels == 1
    # An audio stream of the right length: the picture's (to its last frame's end).
    video_s = frames[-1][0] + 1 / 30
    assert abs(len(audio) / rate - video_s) < 0.1, ([t for t, _ in frames], len(audio) / rate)
    groups = by_voicing(frames, audio, rate)
    assert len(groups["voiced"]) >= 4 and len(groups["silent"]) >= 4
    # The photo's own look after encoding: a frame from a silence (the encoder blurs its texture alike).
    idle = groups["silent"][0].astype(np.int16)
    height, width = idle.shape[:2]
    assert (height, width) == read_image(photo).shape[:2]
    for image in groups["silent"]:  # shut: nothing differs beyond the encoder's noise
        assert np.count_nonzero(np.abs(image.astype(np.int16) - idle).max(axis=2) > 40) == 0
    for image in groups["voiced"]:
        rows, cols = np.nonzero(np.abs(image.astype(np.int16) - idle).max(axis=2) > 40)
        assert rows.size > 500  # the mouth opened …
        # … in one small region of the face, the rest of the picture as it was
        assert np.ptp(rows) < height // 4 and np.ptp(cols) < width // 4


def test_avatar_stream_carries_aac_audio_beside_the_video(kit_dir: Path, speech: Path, tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    received = tmp_path / "stream.ts"
    done = threading.Event()

    def receive() -> None:
        with received.open("wb") as sink:
            while not done.is_set():
                try:
                    sink.write(receiver.recv(65536))
                except TimeoutError:
                    continue

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        code = main(["--models", str(kit_dir), "live", "--avatar", str(kit_dir / "samples" / "target.png"),
                     "--audio-in", str(speech), "--stream", f"udp://127.0.0.1:{port}", "--duration", "2.5"])
    finally:
        done.set()
        thread.join(5)
        receiver.close()
    assert code == 0
    with av.open(str(received)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        assert kinds == {"video": "h264", "audio": "aac"}
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert np.abs(audio).max() > 0.1  # the voice is in the stream, not silence


def test_a_failing_frame_never_ends_a_lip_synced_stream(kit_dir: Path, speech: Path) -> None:
    engine = PassEngine(fail_on={5, 6, 20})
    session = LiveSession(LiveConfig(avatar=kit_dir / "samples" / "target.png", audio_in=str(speech), fps=30.0),
                          engine=engine)
    session.start()
    try:
        assert wait_until(lambda: session.stats().frames >= 40, 20.0), session.message
        assert session.state is SessionState.RUNNING
        windows = [c.lip_sync for c in list(engine.contexts) if c.lip_sync is not None]
    finally:
        session.stop()
    # The engine got each frame with its mel window (lip sync only: no source face given).
    assert windows and windows[-1].mel.shape == (80, 16)
    assert all(c.swap_faces is False for c in engine.contexts)


def test_an_unknown_audio_device_is_one_line_naming_it_and_how_to_list(kit_dir: Path, tmp_path: Path, capsys,
                                                                        monkeypatch) -> None:
    from app.devices.audio_input import AudioDevice

    # A machine with one microphone (this one may have none, or no PortAudio at all).
    monkeypatch.setattr("app.devices.audio_input.list_audio_inputs",
                        lambda: [AudioDevice(0, "USB Audio Device", 1, 48000.0)])
    code = main(["--models", str(kit_dir), "live", "--lip-sync", "--audio-in", "Blue Yeti",
                 "--camera", str(kit_dir / "samples" / "target.mp4"), "--record", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "Blue Yeti" in err and "--list-audio" in err
    assert not (tmp_path / "x.mp4").exists()


def test_lip_sync_without_an_audio_input_or_with_a_silent_file_is_one_line(kit_dir: Path, tmp_path: Path,
                                                                         capsys) -> None:
    photo = str(kit_dir / "samples" / "target.png")
    code = main(["--models", str(kit_dir), "live", "--avatar", photo, "--preview"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--audio-in" in err
    mute = make_clip(tmp_path / "mute.mp4", frames=10).path  # a video without sound
    code = main(["--models", str(kit_dir), "live", "--avatar", photo, "--record", str(tmp_path / "x.mp4"),
                 "--audio-in", str(mute), "--duration", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no audio stream" in err and "mute.mp4" in err
    assert not (tmp_path / "x.mp4").exists()


def test_studio_lip_sync_toggle_with_an_audio_file_shows_the_delay(qtbot, kit_dir: Path, speech: Path,
                                                                   monkeypatch) -> None:
    from app.devices.audio_input import AudioInputStatus
    from gui_support import studio, wait_engine

    samples = kit_dir / "samples"
    monkeypatch.setattr("app.devices.audio_input.audio_input_status",
                        lambda: AudioInputStatus(problem="no audio input device found (no microphone)",
                                                 fix="plug in a microphone"))
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        panel = window.live_panel
        window.sources.add_photos([samples / "source_a.png"])
        qtbot.waitUntil(lambda: not window.sources.busy, timeout=20000)
        panel.use_video_file(samples / "target.mp4")
        panel.lip_check.setChecked(True)
        assert "no microphone" in panel.audio_label.toolTip() + panel.audio_label.text()
        assert window.live_config() == "pick a microphone or an audio file for lip sync"
        panel.use_audio_file(speech)  # the picker's "Audio file…" entry, without its dialog
        config = window.live_config()
        assert not isinstance(config, str) and config.lip_sync and config.audio_in == str(speech)
        panel.start_button.click()
        try:
            qtbot.waitUntil(lambda: window.live.last_stats is not None and window.live.last_stats.lip_sync
                            and window.live.last_stats.frames > 5, timeout=30000)
            qtbot.waitUntil(lambda: "A/V delay" in panel.audio_label.toolTip() + panel.audio_label.text(),
                            timeout=10000)
        finally:
            panel.start_button.click()
            qtbot.waitUntil(lambda: not window.live.running, timeout=20000)


def test_an_avatar_without_source_faces_needs_no_swapper_or_recognizer(kit_dir: Path, speech: Path,
                                                                        tmp_path: Path, capsys) -> None:
    kit = tmp_path / "lip-sync-kit"  # the kit as a user who only lip-syncs has it
    kit.mkdir()
    manifest = json.loads((kit_dir / "manifest.json").read_text())
    for model in manifest["models"]:
        if model["role"] not in ("swapper", "recognizer"):
            (kit / model["file"]).write_bytes((kit_dir / model["file"]).read_bytes())
    (kit / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "avatar.mp4"
    code = main(["--models", str(kit), "live", "--avatar", str(kit_dir / "samples" / "target.png"),
                 "--audio-in", str(speech), "--record", str(out), "--duration", "1.5"])
    assert code == 0, capsys.readouterr()
    frames, audio, rate = read_recording(out)
    assert frames and len(audio) / rate > 1.0
