"""probe(): what it reports about synthesized clips, and the one-line errors for unusable files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.media import probe
from app.media.probe import timestamps_irregular
from app.media.synth import make_clip
from engines.errors import InputError


def _one_line(error: pytest.ExceptionInfo[InputError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_plain_clip_with_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=24, audio="aac")
    info = probe(clip.path)
    assert info.kind == "video"
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 24 and info.frame_count_exact
    assert info.duration_s == pytest.approx(24 / 30, abs=0.01)
    assert info.rotation == 0 and info.display_matrix is None
    assert info.has_audio and info.audio_codec == "aac"
    assert info.video_codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.color_range in ("tv", "pc", "unknown")
    assert not info.is_vfr
    assert "mp4" in info.container
    assert info.time_base == Fraction(1, 15360)


def test_rotation_from_display_matrix(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "portrait.mp4", frames=6, rotation=-90).path)
    assert info.rotation == -90
    assert info.display_matrix is not None and len(info.display_matrix) == 9


def test_rotation_from_legacy_rotate_tag(tmp_path: Path) -> None:
    # Matroska keeps an old-style clockwise "rotate" tag as is; it means the opposite sign.
    info = probe(make_clip(tmp_path / "legacy.mkv", frames=6, legacy_rotate_tag=90).path)
    assert info.rotation == -90


def test_variable_frame_rate_detected_and_counted(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mkv", frames=30, vfr=True, time_base=Fraction(1, 1000))
    info = probe(clip.path)
    assert info.is_vfr
    assert info.frame_count == 30 and info.frame_count_exact  # Matroska has no count: the scan counted


def test_regular_rate_in_millisecond_clock_is_not_vfr() -> None:
    # 29.97 fps in a 1/1000 clock alternates 33 and 34 ms: rounding, not VFR.
    pts = [round(i * 1000 / 29.97) for i in range(60)]
    assert not timestamps_irregular(pts)
    assert timestamps_irregular([0, 33, 66, 150, 166, 200, 233])


def test_4k_clip(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "uhd.mp4", frames=3, width=3840, height=2160).path)
    assert (info.width, info.height, info.frame_count) == (3840, 2160, 3)


def test_non_ascii_name(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "vidéo_テスト.mp4", frames=5).path)
    assert info.path.name == "vidéo_テスト.mp4" and info.frame_count == 5


def test_still_image_is_kind_image(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), np.full((48, 64, 3), 128, np.uint8))
    info = probe(path)
    assert info.kind == "image" and (info.width, info.height) == (64, 48)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        probe(tmp_path / "nope.mp4")
    assert "nope.mp4" in _one_line(error) and "not found" in str(error.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(InputError) as error:
        probe(path)
    assert "empty.mp4" in _one_line(error) and "empty" in str(error.value)


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(InputError) as error:
        probe(path)
    text = _one_line(error)
    assert "notes.mp4" in text and "not a video (could not read its format)" in text


def test_truncated_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "full.mp4", frames=30, audio="aac")
    cut = tmp_path / "cut.mp4"
    data = clip.path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as error:
        probe(cut)
    text = _one_line(error)
    assert "cut.mp4" in text and "truncated or corrupt" in text


def test_no_decodable_frame(tmp_path: Path) -> None:
    # The MP4 index is intact (the file opens) but every picture byte is garbage.
    clip = make_clip(tmp_path / "ok.mp4", frames=10)
    data = bytearray(clip.path.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov") - 4
    data[start:end] = np.random.default_rng(1).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError) as error:
        probe(bad)
    text = _one_line(error)
    assert "garbage.mp4" in text and "corrupt" in text


def test_damaged_header(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "ok.mkv", frames=10)
    data = bytearray(clip.path.read_bytes())
    data[400:] = np.random.default_rng(1).integers(0, 256, len(data) - 400, dtype=np.uint8).tobytes()
    bad = tmp_path / "garbage.mkv"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError) as error:
        probe(bad)
    text = _one_line(error)
    assert "garbage.mkv" in text and "truncated or corrupt" in text


def test_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        samples.sample_rate = 48000
        samples.pts = 0
        out.mux(stream.encode(samples))
        out.mux(stream.encode(None))
    with pytest.raises(InputError) as error:
        probe(path)
    text = _one_line(error)
    assert "sound.m4a" in text and "no video stream" in text


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        probe(tmp_path)
    assert "folder" in _one_line(error)
