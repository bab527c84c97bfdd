"""Split a long video at keyframes (packet copy), encode each segment with the real transcode, join
them back: the output must be the source's timing, sound and rotation with the processed pixels."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from app.media import TranscodeOptions, VideoReader, identity, probe, transcode
from app.media.segments import (
    MANIFEST_NAME,
    Segment,
    SegmentError,
    check_processed,
    join_segments,
    plan_segments,
    split_video,
)
from app.media.synth import make_clip
from app.media.transcode import ProcessBatch
from engines.errors import InputError
from engines.metadata import AI_TAG

FPS = 30
# veryfast keeps x264's B-frames (frames reordered across packets); a keyframe every second.
KEYFRAME_EVERY_S = {"preset": "veryfast", "g": str(FPS), "keyint_min": str(FPS), "sc_threshold": "0"}


def _packets(path: Path) -> list[Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, p.is_keyframe, bytes(p)) for p in container.demux(stream) if p.size]


def _frames(path: Path) -> tuple[list[Fraction], list[np.ndarray]]:
    """Presentation times and BGR pictures, decoded by PyAV through the product's reader."""
    with VideoReader(path) as reader:
        frames = list(reader)
    return [f.pts * f.time_base for f in frames], [f.image for f in frames]


def _audio_samples(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(container.streams.audio[0]))


def _psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """PSNR of a whole video (mean squared error over every frame)."""
    assert len(a) == len(b)
    mse = float(np.mean([np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2) for x, y in zip(a, b)]))
    return 10.0 * np.log10(255.0**2 / max(mse, 1e-12))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


def _encode_all(segments: list[Segment], folder: Path, process: ProcessBatch = identity) -> list[Path]:
    """What a worker does with each segment: decode, process, encode (no sound) with the real path."""
    encoded = []
    for segment in segments:
        target = folder / f"swapped_{segment.plan.index:05d}.mp4"
        transcode(segment.path, target, process, TranscodeOptions(audio=False, quality=16))
        encoded.append(target)
    return encoded


def _invert(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [255 - frame for frame in frames]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6.5 s, 30 fps, H.264 with B-frames, a keyframe every second, AAC sound, turned 90°."""
    folder = tmp_path_factory.mktemp("long")
    return make_clip(
        folder / "long.mp4", frames=195, fps=FPS, audio="aac", rotation=90, options=KEYFRAME_EVERY_S
    ).path


@pytest.fixture(scope="module")
def split(long_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    return split_video(long_clip, 2.0, tmp_path_factory.mktemp("segments"))


@pytest.fixture(scope="module")
def encoded(split: list[Segment], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _encode_all(split, tmp_path_factory.mktemp("encoded"))


# ---- planning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [2.0, 1.5])
def test_plan_cuts_at_the_first_keyframe_at_or_after_each_length(long_clip: Path, seconds: float) -> None:
    plans = plan_segments(long_clip, seconds)
    source = _packets(long_clip)
    # Keyframes every 1 s: 1.5 s rounds up to the keyframe at 2 s, like 2 s itself.
    assert [p.start_s for p in plans] == [0.0, 2.0, 4.0, 6.0]
    assert [p.frames for p in plans] == [60, 60, 60, 15]
    assert [p.first_packet for p in plans] == [0, 60, 120, 180]
    for plan in plans:
        shown = [pts for pts, _, _ in source[plan.first_packet : plan.end_packet]]
        assert source[plan.first_packet][1], f"segment {plan.index} does not start on a keyframe"
        assert (plan.first_pts, plan.last_pts) == (min(shown), max(shown))
        assert plan.first_pts * plan.time_base == Fraction(plan.index * 2)


def test_plan_longer_than_the_video_is_one_segment(long_clip: Path) -> None:
    plans = plan_segments(long_clip, 60.0)
    assert len(plans) == 1 and plans[0].frames == 195


def test_no_cut_where_frames_reorder_across_a_keyframe(tmp_path: Path) -> None:
    # Open GOPs: frames after a keyframe (in decode order) are shown before it and need the previous
    # GOP, so a segment starting there would lose them. Such keyframes are never cut at.
    open_gop = {**KEYFRAME_EVERY_S, "x264-params": "open-gop=1"}
    clip = make_clip(tmp_path / "open_gop.mp4", frames=120, fps=FPS, options=open_gop)
    assert sum(keyframe for _, keyframe, _ in _packets(clip.path)) >= 3
    assert [p.frames for p in plan_segments(clip.path, 1.0)] == [120]


def test_non_positive_length_is_refused(long_clip: Path) -> None:
    with pytest.raises(InputError, match="not positive"):
        plan_segments(long_clip, 0)


# ---- splitting -----------------------------------------------------------------------------------


def test_split_copies_the_sources_packets_untouched(long_clip: Path, split: list[Segment]) -> None:
    assert len(split) == 4 and [s.path.name for s in split] == [f"seg_{i:05d}.mp4" for i in range(4)]
    source = _packets(long_clip)
    for segment in split:
        # Byte-identical packets prove nothing was decoded or re-encoded.
        copied = _packets(segment.path)
        assert [data for _, _, data in copied] == [data for _, _, data in source[segment.plan.first_packet : segment.plan.end_packet]]
        with av.open(str(segment.path)) as container:
            assert not container.streams.audio  # video only: the sound is copied once, at the join
        info = probe(segment.path)
        assert info.rotation == 90 and info.start_pts == 0  # each segment starts at time 0
    assert _leftovers(split[0].path.parent) == []


def test_manifest_says_which_segments_exist(long_clip: Path, split: list[Segment]) -> None:
    manifest = json.loads((split[0].path.parent / MANIFEST_NAME).read_text())
    assert manifest["source"] == {
        "path": str(long_clip.resolve()),
        "size": long_clip.stat().st_size,
        "mtime_ns": long_clip.stat().st_mtime_ns,
    }
    assert manifest["time_base"] == "1/15360" and manifest["seconds"] == 2.0
    for segment in split:
        record = manifest["segments"][str(segment.plan.index)]
        assert record["file"] == segment.path.name and record["frames"] == segment.plan.frames
        assert (record["first_pts"], record["last_pts"]) == (segment.plan.first_pts, segment.plan.last_pts)
        assert record["bytes"] == segment.path.stat().st_size


def test_restarted_split_reuses_complete_segments_and_redoes_broken_ones(long_clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "job"
    first = split_video(long_clip, 2.0, folder)
    original_bytes = [s.path.read_bytes() for s in first]
    kept_mtime = first[0].path.stat().st_mtime_ns
    # A worker killed while writing segment 1 (its temporary left behind, never renamed) ...
    first[1].path.unlink()
    (folder / ".seg_00001.1a2b3c.part.mp4").write_bytes(original_bytes[1][:500])
    # ... and segment 2 cut short on disk.
    first[2].path.write_bytes(original_bytes[2][: len(original_bytes[2]) // 2])
    seen: list[tuple[int, int]] = []
    again = split_video(long_clip, 2.0, folder, progress=lambda d, t: seen.append((d, t)))
    assert [s.reused for s in again] == [True, False, False, True]
    assert seen == [(2, 4), (3, 4), (4, 4)]  # the reused ones count as done from the start
    assert [s.path.read_bytes() for s in again] == original_bytes
    assert again[0].path.stat().st_mtime_ns == kept_mtime
    assert _leftovers(folder) == []


def test_a_changed_source_is_split_again(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "a.mp4", frames=90, fps=FPS, options=KEYFRAME_EVERY_S).path
    folder = tmp_path / "job"
    assert len(split_video(video, 1.0, folder)) == 3
    make_clip(video, frames=60, fps=FPS, options=KEYFRAME_EVERY_S)
    again = split_video(video, 1.0, folder)
    assert [s.reused for s in again] == [False, False]
    assert sorted(p.name for p in folder.glob("seg_*")) == ["seg_00000.mp4", "seg_00001.mp4"]


# ---- joining -------------------------------------------------------------------------------------


def test_joined_output_is_the_sources_timing_sound_rotation_and_tag(
    long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path
) -> None:
    output = tmp_path / "joined.mp4"
    seen: list[tuple[int, int]] = []
    result = join_segments(encoded, long_clip, output, plan=[s.plan for s in split], progress=lambda d, t: seen.append((d, t)))
    assert result.output == output and result.frames == 195 and result.segments == 4 and result.audio == "copied"
    assert result.warnings == [] and seen[-1] == (195, 195)
    before, after = probe(long_clip), probe(output)
    source_times, source_frames = _frames(long_clip)
    joined_times, joined_frames = _frames(output)
    assert len(joined_times) == len(source_times) == 195
    assert joined_times == source_times  # every frame on the source's own timestamp
    assert after.fps == pytest.approx(before.fps, rel=1e-6)
    assert after.duration_s == pytest.approx(before.duration_s, abs=1 / FPS)
    assert after.rotation == before.rotation == 90 and after.display_matrix == before.display_matrix
    assert after.has_audio and _audio_samples(output) == _audio_samples(long_clip)
    assert _psnr(source_frames, joined_frames) >= 40.0
    # The join itself is lossless: the pictures are exactly the encoded segments' pictures.
    assert all(np.array_equal(a, b) for a, b in zip(joined_frames, [f for path in encoded for f in _frames(path)[1]]))
    with av.open(str(output)) as container:
        assert container.metadata.get("comment") == AI_TAG
    assert _leftovers(tmp_path) == []


def test_the_processed_pixels_reach_the_output(long_clip: Path, split: list[Segment], tmp_path: Path) -> None:
    inverted = _encode_all(split, tmp_path, _invert)
    output = tmp_path / "inverted.mp4"
    join_segments(inverted, long_clip, output, plan=[s.plan for s in split], audio=False)
    _, source_frames = _frames(long_clip)
    joined_times, joined_frames = _frames(output)
    assert len(joined_frames) == 195
    around_cuts = [0, 59, 60, 119, 120, 179, 180, 194]
    assert _psnr([255 - source_frames[i] for i in around_cuts], [joined_frames[i] for i in around_cuts]) >= 40.0
    with av.open(str(output)) as container:
        assert not container.streams.audio


def test_vfr_source_keeps_each_frames_timestamp(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mp4", frames=120, fps=FPS, vfr=True, audio="aac", options=KEYFRAME_EVERY_S)
    segments = split_video(clip.path, 1.0, tmp_path / "segments")
    assert len(segments) >= 3
    output = tmp_path / "vfr_joined.mp4"
    join_segments(_encode_all(segments, tmp_path), clip.path, output, plan=[s.plan for s in segments])
    assert _frames(output)[0] == [pts * clip.time_base for pts in clip.pts]
    assert probe(output).is_vfr


def test_matroska_with_a_legacy_rotate_tag(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "tagged.mkv", frames=60, fps=FPS, legacy_rotate_tag=90, options=KEYFRAME_EVERY_S)
    segments = split_video(clip.path, 1.0, tmp_path / "segments")
    assert len(segments) == 2
    output = tmp_path / "tagged_joined.mp4"
    join_segments(_encode_all(segments, tmp_path), clip.path, output, plan=[s.plan for s in segments])
    assert probe(output).rotation == probe(clip.path).rotation == -90
    assert _frames(output)[0] == _frames(clip.path)[0]  # Matroska's millisecond clock, kept exactly


def test_the_kits_sample_video_round_trips(kit_dir: Path, tmp_path: Path) -> None:
    sample = kit_dir / "samples" / "target.mp4"
    segments = split_video(sample, 1.0, tmp_path / "segments")
    assert len(segments) == 1  # x264's default GOP: its only keyframe is the first frame
    output = tmp_path / "sample_joined.mp4"
    join_segments(_encode_all(segments, tmp_path), sample, output, plan=[s.plan for s in segments])
    source_times, _ = _frames(sample)
    assert _frames(output)[0] == source_times and len(source_times) == 90
    assert _audio_samples(output) == _audio_samples(sample)


# ---- refusals ------------------------------------------------------------------------------------


def test_a_missing_segment_is_named(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    plan = [s.plan for s in split]
    gone = tmp_path / "gone.mp4"
    with pytest.raises(SegmentError) as error:
        join_segments([encoded[0], gone, *encoded[2:]], long_clip, tmp_path / "out.mp4", plan=plan)
    assert error.value.index == 1  # an executor can run just that one again
    text = str(error.value)
    assert "segment 1" in text and "gone.mp4" in text and "missing" in text and "\n" not in text
    with pytest.raises(InputError, match="segment 3 missing"):
        join_segments(encoded[:3], long_clip, tmp_path / "out.mp4", plan=plan)
    assert not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []


def test_a_short_segment_is_named(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    short = tmp_path / "short.mp4"
    transcode(split[2].path, short, identity, TranscodeOptions(audio=False, end_s=1.0))
    with pytest.raises(SegmentError) as error:
        join_segments([*encoded[:2], short, encoded[3]], long_clip, tmp_path / "out.mp4", plan=[s.plan for s in split])
    assert error.value.index == 2 and "segment 2" in str(error.value) and "has 30 frames, its plan says 60" in str(error.value)
    with pytest.raises(SegmentError, match="has 30 frames"):
        check_processed(short, split[2].plan)  # what a worker checks before reporting a segment done
    check_processed(encoded[2], split[2].plan)
    assert not (tmp_path / "out.mp4").exists()


def test_a_damaged_segment_is_named(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(encoded[1].read_bytes()[:300])
    with pytest.raises(InputError, match="segment 1 .*broken.mp4"):
        join_segments([encoded[0], broken, *encoded[2:]], long_clip, tmp_path / "out.mp4", plan=[s.plan for s in split])


def test_the_input_is_never_the_output(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.mp4"
    shutil.copy(long_clip, copy)
    before = copy.read_bytes()
    for target in (copy, encoded[0]):
        with pytest.raises(InputError, match="the output is the input file itself"):
            join_segments(encoded, copy, target, plan=[s.plan for s in split], overwrite=True)
    assert copy.read_bytes() == before


def test_a_folder_that_cannot_be_made_is_named(long_clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="segment folder .*a_file/job cannot be created"):
        split_video(long_clip, 2.0, blocker / "job")


def test_an_existing_output_is_kept_without_overwrite(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    output = tmp_path / "taken.mp4"
    output.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists"):
        join_segments(encoded, long_clip, output, plan=[s.plan for s in split])
    assert output.read_bytes() == b"mine"


def test_sound_the_container_refuses_is_encoded_once_and_said(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "pcm.mkv", frames=60, fps=FPS, audio="pcm_u8", options=KEYFRAME_EVERY_S)
    segments = split_video(clip.path, 1.0, tmp_path / "segments")
    output = tmp_path / "pcm_joined.mp4"
    result = join_segments(_encode_all(segments, tmp_path), clip.path, output, plan=[s.plan for s in segments])
    assert result.audio == "re-encoded" and any("re-encoded to AAC" in w and "pcm_u8" in w for w in result.warnings)
    with av.open(str(output)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    # AAC works in 1024-sample frames: the re-encoded track is the source's length within one frame.
    assert abs(_audio_samples(output) - _audio_samples(clip.path)) <= 1024
    assert _frames(output)[0] == _frames(clip.path)[0]


def test_a_container_that_moves_frame_times_is_said(long_clip: Path, split: list[Segment], encoded: list[Path], tmp_path: Path) -> None:
    # Matroska counts milliseconds, and shifts everything when the AAC track starts before 0.
    result = join_segments(encoded, long_clip, tmp_path / "joined.mkv", plan=[s.plan for s in split])
    assert result.frames == 195 and len(_frames(result.output)[0]) == 195
    assert any("matroska container moved frame times" in w and ".mp4" in w for w in result.warnings)


def test_a_codec_mp4_refuses_is_cut_into_matroska_segments(tmp_path: Path) -> None:
    # Microsoft's MPEG-4 v3 (old AVI files): Matroska takes it, MP4 does not.
    clip = make_clip(tmp_path / "msmpeg4.mkv", frames=30, fps=FPS, codec="msmpeg4", time_base=Fraction(1, 1000),
                     options={"g": "12"})
    segments = split_video(clip.path, 0.35, tmp_path / "segments")  # keyframes every 396 ms
    assert [s.path.name for s in segments] == ["seg_00000.mkv", "seg_00001.mkv", "seg_00002.mkv"]
    assert [s.plan.frames for s in segments] == [12, 12, 6]
    output = tmp_path / "msmpeg4_joined.mp4"
    join_segments(_encode_all(segments, tmp_path), clip.path, output, plan=[s.plan for s in segments])
    assert _frames(output)[0] == _frames(clip.path)[0]
