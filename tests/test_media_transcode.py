"""transcode(): the three-stage pipeline end to end on tiny synthesized clips."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from app.media import TranscodeCancelled, TranscodeOptions, probe, transcode
from app.media.synth import make_clip
from app.media.transcode import identity
from engines.errors import InputError
from engines.metadata import AI_TAG


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def _video_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def _audio_packets(path: Path) -> tuple[str, list[Any], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [(p.pts, p.duration, bytes(p)) for p in container.demux(stream) if p.pts is not None]
        return stream.codec_context.name, packets, stream.time_base


def _audio_seconds(path: Path) -> float:
    _, packets, time_base = _audio_packets(path)
    first, last = packets[0], packets[-1]
    return float((last[0] + last[1] - first[0]) * time_base)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "av": make_clip(folder / "talk.mp4", frames=45, audio="aac", rotation=90),
        "silent": make_clip(folder / "silent.mp4", frames=24),
        "vfr": make_clip(folder / "vfr.mp4", frames=40, vfr=True, audio="aac"),
        "pcm": make_clip(folder / "pcm.mkv", frames=24, audio="pcm_u8", time_base=Fraction(1, 1000)),
        "uhd": make_clip(folder / "uhd.mp4", frames=3, width=3840, height=2160),
        "odd": make_clip(folder / "odd.mkv", frames=6, width=321, height=241, codec="ffv1", pix_fmt="bgr0",
                         time_base=Fraction(1, 1000)),
        "unicode": make_clip(folder / "vidéo_テスト.mp4", frames=12, audio="aac"),
    }


def test_plain_transcode_keeps_everything(clips: dict[str, Any], tmp_path: Path) -> None:
    src = clips["av"].path
    dst = tmp_path / "out.mp4"
    seen: list[tuple[int, int]] = []
    result = transcode(src, dst, identity, TranscodeOptions(), progress=lambda d, t: seen.append((d, t)))
    assert result.output == dst and dst.exists()
    assert result.frames == 45 and result.encoder == "libx264" and result.audio == "copied"
    assert seen[-1] == (45, 45) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    before, after = probe(src), probe(dst)
    assert (after.width, after.height) == (before.width, before.height)
    assert after.frame_count == before.frame_count == 45
    assert after.fps == pytest.approx(before.fps, rel=0.01)
    assert after.rotation == before.rotation == 90
    assert after.display_matrix == before.display_matrix
    # Audio packets were copied: same codec, same payload bytes, same duration within a frame.
    codec_in, packets_in, tb_in = _audio_packets(src)
    codec_out, packets_out, tb_out = _audio_packets(dst)
    assert codec_out == codec_in == "aac"
    assert [p[2] for p in packets_out] == [p[2] for p in packets_in]
    assert _audio_seconds(dst) == pytest.approx(_audio_seconds(src), abs=1 / 30)
    assert _leftovers(tmp_path) == []


def test_ai_tag_in_container_metadata(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "tagged.mp4"
    transcode(clips["silent"].path, dst, identity)
    with av.open(str(dst)) as container:
        assert container.metadata.get("comment") == AI_TAG
        assert container.metadata.get("description") == AI_TAG
    mkv = tmp_path / "tagged.mkv"
    transcode(clips["silent"].path, mkv, identity)
    with av.open(str(mkv)) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
        assert tags["comment"] == AI_TAG and tags["description"] == AI_TAG and tags["software"] == "SwapCast"


def test_vfr_timestamps_survive(clips: dict[str, Any], tmp_path: Path) -> None:
    clip = clips["vfr"]
    dst = tmp_path / "vfr_out.mp4"
    transcode(clip.path, dst, identity)
    assert _video_times(dst) == [pts * clip.time_base for pts in clip.pts]
    assert probe(dst).is_vfr


def test_trim_gives_frame_range_and_audio_duration(clips: dict[str, Any], tmp_path: Path) -> None:
    clip = clips["av"]  # 45 frames at 30 fps = 1.5 s
    dst = tmp_path / "trim.mp4"
    result = transcode(clip.path, dst, identity, TranscodeOptions(start_s=0.5, end_s=1.2))
    assert result.frames == 21  # frames 15 … 35
    times = _video_times(dst)
    assert times[0] == 0 and len(times) == 21
    assert times[-1] == pytest.approx(20 / 30, abs=1e-3)
    assert _audio_seconds(dst) == pytest.approx(0.7, abs=1 / 30)


def test_audio_false_drops_audio(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "mute.mp4"
    result = transcode(clips["av"].path, dst, identity, TranscodeOptions(audio=False))
    assert result.audio == "none"
    with av.open(str(dst)) as container:
        assert not container.streams.audio and len(container.streams.video) == 1


def test_video_without_audio(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "silent_out.mp4"
    result = transcode(clips["silent"].path, dst, identity)
    assert result.frames == 24 and result.audio == "none"
    assert not probe(dst).has_audio


def test_audio_reencoded_when_container_refuses_codec(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "from_pcm.mp4"
    result = transcode(clips["pcm"].path, dst, identity)
    assert result.audio == "re-encoded"
    assert any("re-encoded to AAC" in w for w in result.warnings)
    assert probe(dst).audio_codec == "aac"
    assert _audio_seconds(dst) == pytest.approx(24 / 30, abs=0.05)


def test_process_batch_pixels_reach_the_output(clips: dict[str, Any], tmp_path: Path) -> None:
    batches: list[int] = []

    def invert_corner(frames: list[np.ndarray]) -> list[np.ndarray]:
        batches.append(len(frames))
        out = []
        for frame in frames:
            frame = frame.copy()
            frame[:80, :120] = 255 - frame[:80, :120]
            out.append(frame)
        return out

    src = clips["av"].path
    dst = tmp_path / "inverted.mp4"
    transcode(src, dst, invert_corner, TranscodeOptions(batch_size=4))
    assert batches == [4] * 11 + [1]
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        for before, after in zip(a.decode(video=0), b.decode(video=0)):
            x, y = before.to_ndarray(format="bgr24").astype(int), after.to_ndarray(format="bgr24").astype(int)
            assert np.abs((255 - x[:80, :120]) - y[:80, :120]).mean() < 8  # the change arrived
            assert np.abs(x[120:, 160:] - y[120:, 160:]).mean() < 8  # the rest is untouched


def test_order_preserved_across_batches_and_queues(clips: dict[str, Any], tmp_path: Path) -> None:
    # Stamp each frame's index into its pixels; a slow, uneven process stage must not reorder.
    counter = iter(range(1000))

    def stamp(frames: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for frame in frames:
            frame = frame.copy()
            frame[:16, :16] = 20 + next(counter) * 5
            out.append(frame)
        return out

    dst = tmp_path / "ordered.mp4"
    transcode(clips["av"].path, dst, stamp, TranscodeOptions(batch_size=3, queue_batches=1, quality=5))
    with av.open(str(dst)) as container:
        values = [int(round((f.to_ndarray(format="bgr24")[4:12, 4:12].mean() - 20) / 5)) for f in container.decode(video=0)]
    assert values == list(range(45))


def test_exception_in_process_batch_leaves_nothing(clips: dict[str, Any], tmp_path: Path) -> None:
    calls = [0]

    def explode(frames: list[np.ndarray]) -> list[np.ndarray]:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("engine fell over")
        return frames

    dst = tmp_path / "boom.mp4"
    with pytest.raises(RuntimeError, match="engine fell over"):
        transcode(clips["av"].path, dst, explode, TranscodeOptions(batch_size=2))
    assert not dst.exists() and list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("media-")]


def test_wrong_batch_result_is_reported(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "short.mp4"
    with pytest.raises(ValueError, match="returned 1 frames for a batch of 4"):
        transcode(clips["av"].path, dst, lambda frames: frames[:1])
    assert list(tmp_path.iterdir()) == []


def test_cancel_leaves_nothing(clips: dict[str, Any], tmp_path: Path) -> None:
    cancel = threading.Event()

    def cancel_after_some(done: int, total: int) -> None:
        if done >= 8:
            cancel.set()

    dst = tmp_path / "cancelled.mp4"
    with pytest.raises(TranscodeCancelled):
        transcode(clips["av"].path, dst, identity, TranscodeOptions(batch_size=2), cancel_after_some, cancel)
    assert not dst.exists() and list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("media-")]


def test_cancel_before_start(clips: dict[str, Any], tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscodeCancelled):
        transcode(clips["silent"].path, tmp_path / "never.mp4", identity, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_untouched_without_overwrite(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "keep.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(InputError) as error:
        transcode(clips["silent"].path, dst, identity)
    assert "keep.mp4" in str(error.value) and "--overwrite" in str(error.value)
    assert dst.read_bytes() == b"precious" and _leftovers(tmp_path) == []
    transcode(clips["silent"].path, dst, identity, TranscodeOptions(overwrite=True))
    assert probe(dst).frame_count == 24


def test_failure_keeps_the_existing_output(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "old.mp4"
    dst.write_bytes(b"old result")

    def explode(frames: list[np.ndarray]) -> list[np.ndarray]:
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError):
        transcode(clips["silent"].path, dst, explode, TranscodeOptions(overwrite=True))
    assert dst.read_bytes() == b"old result" and _leftovers(tmp_path) == []


def test_input_equals_output_refused_even_with_overwrite(clips: dict[str, Any], tmp_path: Path) -> None:
    src = tmp_path / "same.mp4"
    src.write_bytes(clips["silent"].path.read_bytes())
    before = src.read_bytes()
    for dst in (src, tmp_path / "." / "same.mp4"):
        with pytest.raises(InputError) as error:
            transcode(src, dst, identity, TranscodeOptions(overwrite=True))
        assert "input" in str(error.value) and "\n" not in str(error.value)
    assert src.read_bytes() == before and _leftovers(tmp_path) == []


def test_unwritable_folder_named(clips: dict[str, Any], tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError) as error:
        transcode(clips["silent"].path, blocker / "out.mp4", identity)
    assert str(blocker) in str(error.value)


def test_read_only_folder_named(clips: dict[str, Any], tmp_path: Path) -> None:
    import os

    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        target = folder
        if os.access(folder, os.W_OK):
            # Root ignores permission bits; Linux's /proc takes no new files from anyone.
            if not Path("/proc/self").exists():
                pytest.skip("running as a user that ignores folder permissions")
            target = Path("/proc")
        with pytest.raises(InputError) as error:
            transcode(clips["silent"].path, target / "out.mp4", identity)
        assert str(target) in str(error.value) and "not writable" in str(error.value)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_output_folder_created(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "new" / "deeper" / "out.mp4"
    transcode(clips["silent"].path, dst, identity)
    assert dst.exists()


def test_4k_clip(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "uhd_out.mp4"
    result = transcode(clips["uhd"].path, dst, identity)
    info = probe(dst)
    assert result.frames == 3 and (info.width, info.height, info.frame_count) == (3840, 2160, 3)


def test_odd_size_is_cropped_by_one_pixel_and_said(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "even.mp4"
    result = transcode(clips["odd"].path, dst, identity)
    assert any("321×241 cropped to 320×240" in w for w in result.warnings)
    info = probe(dst)
    assert (info.width, info.height, info.pix_fmt) == (320, 240, "yuv420p")


def test_non_ascii_names(clips: dict[str, Any], tmp_path: Path) -> None:
    dst = tmp_path / "résultat_出力.mp4"
    result = transcode(clips["unicode"].path, dst, identity)
    assert result.output == dst and probe(dst).frame_count == 12 and result.audio == "copied"


def test_auto_encoder_falls_back_to_libx264(clips: dict[str, Any], tmp_path: Path) -> None:
    result = transcode(clips["silent"].path, tmp_path / "auto.mp4", identity, TranscodeOptions(encoder="auto"))
    assert result.encoder == "libx264"


def test_unknown_extension_refused(clips: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        transcode(clips["silent"].path, tmp_path / "out.notavideo", identity)
    assert ".notavideo" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_decode_error_mid_file_removes_temp(clips: dict[str, Any], tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "src.mp4", frames=60)
    data = bytearray(clip.path.read_bytes())
    mdat = data.index(b"mdat")
    middle = mdat + (data.index(b"moov") - mdat) // 2
    data[middle : middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="damaged.mp4: decoding failed at"):
        transcode(damaged, out / "x.mp4", identity)
    assert list(out.iterdir()) == []
    result = transcode(damaged, out / "x.mp4", identity, TranscodeOptions(on_decode_error="skip"))
    assert 0 < result.frames < 60 and result.warnings


def test_queues_bound_how_far_decoding_runs_ahead(clips: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import time

    # The package re-exports the function `transcode`, which shadows the submodule attribute.
    pipeline = importlib.import_module("app.media.transcode")

    produced = [0]
    real_batches = pipeline._batches

    def counting(*args: Any) -> Any:
        for batch in real_batches(*args):
            produced[0] += 1
            yield batch

    monkeypatch.setattr(pipeline, "_batches", counting)
    seen_while_blocked: list[int] = []

    def slow_first(frames: list[np.ndarray]) -> list[np.ndarray]:
        if not seen_while_blocked:
            time.sleep(0.3)  # give the decoder every chance to run ahead
            seen_while_blocked.append(produced[0])
        return frames

    options = TranscodeOptions(batch_size=2, queue_batches=1)
    transcode(clips["av"].path, tmp_path / "bounded.mp4", slow_first, options)
    # One batch in process_batch, one in the queue, one made and waiting to be queued.
    assert seen_while_blocked[0] <= 1 + options.queue_batches + 1
    assert produced[0] == 23  # 45 frames in batches of 2


def test_still_image_refused(tmp_path: Path) -> None:
    import cv2

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="still image"):
        transcode(image, tmp_path / "face.mp4", identity)


def _mean_level(path: Path) -> float:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24").astype(np.float64) for f in container.decode(video=0)]
    return float(np.mean(frames))


def test_repeated_identity_transcodes_do_not_darken(clips: dict[str, Any], tmp_path: Path) -> None:
    # A job's output is often the next job's input: each pass must keep the picture's levels. Before
    # full-chroma interpolation each pass lost about a level (half of one on grey).
    generations = [clips["silent"].path]
    for n in range(3):
        generations.append(tmp_path / f"gen{n}.mp4")
        transcode(generations[-2], generations[-1], identity, TranscodeOptions(quality=0))
    levels = [_mean_level(p) for p in generations[1:]]
    assert abs(levels[-1] - levels[0]) < 0.3, levels
