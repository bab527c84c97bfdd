"""VideoReader: BGR frames with their source timestamps, trims, and damaged packets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from app.media import VideoReader
from app.media.synth import RECT_COLOR, make_clip, moving_rectangle
from engines.errors import InputError


def test_frames_are_bgr_with_source_pts(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=24)
    with VideoReader(clip.path) as reader:
        frames = list(reader)
        assert reader.frames_total == 24
    assert [f.pts for f in frames] == clip.pts
    assert [f.index for f in frames] == list(range(24))
    first = frames[0]
    assert first.image.shape == (240, 320, 3) and first.image.dtype == np.uint8
    assert first.time_base == Fraction(1, 15360)
    # Lossy, but the red rectangle is where we drew it, in BGR order.
    expected = moving_rectangle(0, 320, 240)
    mask = np.all(expected == RECT_COLOR, axis=2)
    assert np.abs(first.image[mask].astype(int) - RECT_COLOR).mean() < 20
    assert np.abs(first.image.astype(int) - expected).mean() < 6


def test_vfr_timestamps_survive(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mp4", frames=30, vfr=True)
    with VideoReader(clip.path) as reader:
        assert [f.pts for f in reader] == clip.pts


def test_trim_selects_the_time_range(tmp_path: Path) -> None:
    # 60 frames at 30 fps with a keyframe only at the start: the seek lands before the range and
    # the reader drops what comes before the start.
    clip = make_clip(tmp_path / "long.mp4", frames=60)
    with VideoReader(clip.path, start_s=0.5, end_s=1.0) as reader:
        frames = list(reader)
        assert reader.frames_total == 15
    step = 512  # 1/30 s in 1/15360
    assert [f.pts for f in frames] == [i * step for i in range(15, 30)]


def test_trim_to_the_end(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", frames=60)
    with VideoReader(clip.path, start_s=1.5) as reader:
        assert len(list(reader)) == 15


@pytest.mark.parametrize(("start", "end"), [(-1.0, None), (1.0, 0.5), (10.0, None)])
def test_bad_trim_is_refused(tmp_path: Path, start: float, end: float | None) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=30)
    with pytest.raises(InputError) as error:
        VideoReader(clip.path, start_s=start, end_s=end)
    assert "\n" not in str(error.value)


def _damaged_clip(tmp_path: Path) -> Path:
    clip = make_clip(tmp_path / "clip.mp4", frames=60)
    data = bytearray(clip.path.read_bytes())
    mdat = data.index(b"mdat")
    middle = mdat + (data.index(b"moov") - mdat) // 2
    data[middle : middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    return damaged


def test_decode_error_stops_with_file_and_time(tmp_path: Path) -> None:
    damaged = _damaged_clip(tmp_path)
    with pytest.raises(InputError) as error:
        list(VideoReader(damaged))
    text = str(error.value)
    assert "damaged.mp4" in text and "decoding failed at" in text and " s " in text and "\n" not in text


def test_decode_error_skipped_with_a_warning(tmp_path: Path) -> None:
    damaged = _damaged_clip(tmp_path)
    with VideoReader(damaged, on_error="skip") as reader:
        frames = list(reader)
        assert reader.skipped_packets >= 1
        assert reader.warnings and "damaged.mp4" in reader.warnings[0]
    assert 0 < len(frames) < 60
    pts = [f.pts for f in frames]
    assert pts == sorted(pts)
