"""VideoWriter and encoder choice on their own: what opens here, quality mapping, atomic output."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from app.media import EncodeSettings, VideoReader, VideoWriter, probe, resolve_encoder
from app.media.encoders import open_error, quality_settings
from app.media.synth import make_clip
from engines.errors import InputError


def test_auto_falls_back_to_libx264_without_gpu() -> None:
    choice = resolve_encoder("auto", quality=23)
    # CI and this machine have no GPU: whichever hardware encoder is compiled in must fail to open.
    if choice.hardware:
        pytest.skip(f"{choice.name} really opens on this machine")
    assert choice.name == "libx264" and choice.options["crf"] == "23"
    assert choice.note and "libx264" in choice.note


def test_named_hardware_encoder_that_does_not_open_is_a_clear_error() -> None:
    if open_error("h264_nvenc") is None:
        pytest.skip("NVENC opens on this machine")
    with pytest.raises(InputError) as error:
        resolve_encoder("h264_nvenc")
    text = str(error.value)
    assert "h264_nvenc" in text and "--encoder auto" in text and "\n" not in text


def test_unknown_encoder_lists_the_choices() -> None:
    with pytest.raises(InputError) as error:
        resolve_encoder("divx")
    assert "divx" in str(error.value) and "libx264" in str(error.value)


@pytest.mark.parametrize(
    ("name", "options", "context"),
    [
        ("libx264", {"crf": "20"}, {}),
        ("libx265", {"crf": "20"}, {}),
        ("h264_nvenc", {"rc": "vbr", "cq": "20", "b": "0"}, {}),
        ("hevc_amf", {"rc": "cqp", "qp_i": "20", "qp_p": "20", "qp_b": "20"}, {}),
        ("h264_qsv", {}, {"global_quality": 20}),
    ],
)
def test_quality_maps_to_each_encoders_knob(name: str, options: dict[str, str], context: dict[str, int]) -> None:
    assert quality_settings(name, 20) == (options, context)


def test_quality_is_clamped() -> None:
    assert quality_settings("libx264", 99)[0]["crf"] == "51"
    assert quality_settings("libx264", -3)[0]["crf"] == "0"


def test_preset_passed_through() -> None:
    assert resolve_encoder("libx264", preset="veryfast").options["preset"] == "veryfast"


def test_libx265_writes_hevc(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    info = probe(clip.path)
    dst = tmp_path / "hevc.mp4"
    with VideoWriter(dst, info, EncodeSettings(encoder="libx265", quality=28)) as writer, VideoReader(clip.path) as reader:
        for frame in reader:
            writer.write(frame.image, frame.pts)
    out = probe(dst)
    assert out.video_codec == "hevc" and out.frame_count == 6


def test_exception_inside_the_context_deletes_the_temporary(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    info = probe(clip.path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError):
        with VideoWriter(out / "x.mp4", info) as writer:
            assert writer.temp_path is not None and writer.temp_path.name.startswith(".x.")
            assert writer.temp_path.name.endswith(".part.mp4")
            writer.write(np.zeros((240, 320, 3), np.uint8), 0)
            raise RuntimeError("stop")
    assert list(out.iterdir()) == []


def test_nothing_written_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "in.mp4", frames=3).path)
    writer = VideoWriter(tmp_path / "empty_out.mp4", info)
    with pytest.raises(InputError, match="no frames"):
        writer.finish()
    assert not (tmp_path / "empty_out.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_repeated_timestamps_are_nudged(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "in.mp4", frames=3).path)
    dst = tmp_path / "dup.mp4"
    image = np.zeros((240, 320, 3), np.uint8)
    with VideoWriter(dst, info) as writer:
        for pts in (0, 512, 512, 1024):
            writer.write(image, pts)
    assert any("repeated timestamp" in w for w in writer.warnings)
    with av.open(str(dst)) as container:
        assert [f.pts for f in container.decode(video=0)] == [0, 512, 513, 1024]


def test_wrong_frame_shape_refused(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "in.mp4", frames=3).path)
    writer = VideoWriter(tmp_path / "o.mp4", info)
    try:
        with pytest.raises(ValueError, match="does not fit"):
            writer.write(np.zeros((100, 100, 3), np.uint8), 0)
    finally:
        writer.abort()
    assert not list(tmp_path.glob(".*part*"))


def test_bad_preset_refused_before_any_work(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "in.mp4", frames=3).path)
    with pytest.raises(InputError) as error:
        VideoWriter(tmp_path / "o.mp4", info, EncodeSettings(encoder="libx264", preset="warp-speed"))
    assert "libx264" in str(error.value) and "warp-speed" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
