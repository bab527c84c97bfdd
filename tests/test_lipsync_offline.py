"""`swapcast lipsync` and `swap --lip-sync` end to end on the kit: the mouth moves in voiced frames and
nowhere else, the output is as long as the audio (looped, trimmed, or a photo held), its sound is the
given audio, and the job goes through the queue with progress, cancel and the AI-altered tag."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from app.cli.main import main
from app.jobs.events import EventBus, EventKind
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobSpec, JobState
from app.jobs.store import JobStore
from app.media.lipsync_video import lip_sync_transcode
from app.media.probe import probe
from app.media.reader import VideoReader
from app.media.speech_audio import decode_speech
from app.media.transcode import TranscodeOptions
from app.offline.runner import runner_factory
from engines.metadata import AI_TAG
from engines.testing.samples import load_truth
from engines.testing.speech import speech_like, write_wav
from engines.video_fit import VideoFit

SECONDS = 4.0  # longer than the 3 s sample video, so `--fit loop` has to loop
BURSTS = ((0.5, 1.5), (2.5, 3.5))
VOICED = (0.9, 1.0, 1.1, 2.9, 3.0, 3.1)  # seconds well inside a burst (its window is all voice)
SILENT = (0.0, 0.1, 1.9, 2.0, 2.1, 3.9)  # seconds well inside a silence
LOSSLESS = ("--quality", "100")  # CRF 0: pixels nobody touched come back exactly


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("speech") / "speech.wav", speech_like(SECONDS, BURSTS))


@pytest.fixture(scope="module")
def truth(kit_dir: Path):
    return load_truth(kit_dir / "samples")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One user folder for the module's shared renders (the autouse one is per test)."""
    folder = tmp_path_factory.mktemp("lipsync-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAPCAST_HOME", str(folder))
        patch.setenv("SWAPCAST_ACCEPT_NOTICE", "1")
        patch.delenv("SWAPCAST_MODELS", raising=False)
        yield folder


def cli(kit_dir: Path, *args: str) -> int:
    return main([*args, "--models", str(kit_dir)])


def frames_of(path: Path) -> list[np.ndarray]:
    return [frame.image for frame in VideoReader(path)]


def plain(target: Path, audio: Path, out: Path, fit: VideoFit = VideoFit.LOOP, still_fps: float = 25.0) -> list[np.ndarray]:
    """The same input on the same timeline with nothing done to the frames (lossless), to compare with."""
    lip_sync_transcode(target, audio, out, lambda frames, _times: list(frames), TranscodeOptions(quality=0),
                       fit=fit, still_fps=still_fps)
    return frames_of(out)


def mouth_area(face) -> tuple[slice, slice]:
    """The lower face around the mouth, from the drawn face's truth (nose down to below the chin)."""
    kps, height = face.kps_array(), face.height
    left, right = kps[3], kps[4]
    width = right[0] - left[0]
    return (slice(int(kps[2][1] - 0.05 * height), int(face.box[3] + 0.08 * height)),
            slice(int(left[0] - 0.6 * width), int(right[0] + 0.6 * width) + 1))


def outside(face, shape: tuple[int, ...], margin: int = 4) -> np.ndarray:
    """Everything but the face's box and the mouth area below it (the lip syncer's feathered paste
    reaches a little under the chin), and a few pixels for 4:2:0 chroma at its edge."""
    mask = np.ones(shape[:2], bool)
    x1, y1, x2, y2 = (int(v) for v in face.box)
    rows, cols = mouth_area(face)
    mask[max(0, y1 - margin):y2 + margin, max(0, x1 - margin):x2 + margin] = False
    mask[max(0, rows.start - margin):rows.stop + margin, max(0, cols.start - margin):cols.stop + margin] = False
    return mask


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)


def audio_stream(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return stream.codec_context.sample_rate, float(stream.duration * stream.time_base)


@pytest.fixture(scope="module")
def looped(kit_dir: Path, speech: Path, home: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("looped")
    target = kit_dir / "samples" / "target.mp4"
    assert cli(kit_dir, "lipsync", "-t", str(target), "-a", str(speech), "-o", str(folder / "out.mp4"),
               *LOSSLESS) == 0
    return folder / "out.mp4", frames_of(folder / "out.mp4"), plain(target, speech, folder / "plain.mp4")


def test_mouth_moves_in_voiced_frames_only_and_nothing_else_changes(looped, truth) -> None:
    _, out, base = looped
    video = truth.video
    for t in VOICED + SILENT:
        index = round(t * video.fps)
        face = video.frames[index % video.frame_count][0]
        diff = change(out[index], base[index])
        rows, cols = mouth_area(face)
        if t in VOICED:
            assert (diff[rows, cols] > 40).sum() > 200, f"the mouth did not open at {t} s"
        else:
            assert diff.max() <= 1, f"a frame changed in silence at {t} s"
        assert diff[outside(face, diff.shape)].max() <= 1, f"pixels away from the face changed at {t} s"


def test_output_is_as_long_as_the_audio_with_the_audio_as_its_sound(looped, speech) -> None:
    path, out, _ = looped
    info = probe(path)
    assert len(out) == round(SECONDS * 30) == info.frame_count and info.fps == pytest.approx(30.0)
    rate, duration = audio_stream(path)
    assert rate == 16000 and duration == pytest.approx(SECONDS, abs=0.05)
    given, carried = decode_speech(speech), decode_speech(path)
    assert abs(len(carried) - len(given)) <= 320  # within 20 ms
    n = min(len(given), len(carried))
    assert np.abs(carried[:n] - given[:n]).max() < 0.01  # the same sound, not the target's 440 Hz tone
    with av.open(str(path)) as container:
        assert AI_TAG in container.metadata.get("comment", "")


def test_fit_loop_starts_the_video_again_when_it_ends(looped, truth) -> None:
    _, out, base = looped
    assert truth.video.frame_count == 90  # 3 s: the 4 s audio needs 30 frames more
    for index in (90, 100):  # 3.0 s and 3.33 s show the target's frames 0 and 10 again
        assert np.array_equal(base[index], base[index - 90]) and not np.array_equal(base[index], base[89])
        face = truth.video.frames[index - 90][0]
        assert change(out[index], out[index - 90])[outside(face, out[index].shape)].max() <= 1


def test_fit_trim_stops_with_the_video_and_cuts_the_audio(kit_dir: Path, speech: Path, tmp_path: Path) -> None:
    out = tmp_path / "trim.mp4"
    assert cli(kit_dir, "lipsync", "-t", str(kit_dir / "samples/target.mp4"), "-a", str(speech), "-o", str(out),
               "--fit", "trim") == 0
    assert probe(out).frame_count == 90
    _, duration = audio_stream(out)
    assert duration == pytest.approx(3.0, abs=0.05)
    given, carried = decode_speech(speech), decode_speech(out)
    assert np.abs(carried[:16000] - given[:16000]).max() < 0.01


def test_a_photo_becomes_a_video_as_long_as_the_audio(kit_dir: Path, speech: Path, truth, tmp_path: Path) -> None:
    photo = kit_dir / "samples" / "target.png"
    out = tmp_path / "photo.mp4"
    assert cli(kit_dir, "lipsync", "-t", str(photo), "-a", str(speech), "-o", str(out), "--photo-fps", "20",
               *LOSSLESS) == 0
    info = probe(out)
    assert info.frame_count == round(SECONDS * 20) and info.fps == pytest.approx(20.0)
    assert audio_stream(out)[1] == pytest.approx(SECONDS, abs=0.05)
    frames, base = frames_of(out), plain(photo, speech, tmp_path / "plain.mp4", still_fps=20)
    face = truth.images["target.png"].faces[0]
    rows, cols = mouth_area(face)
    voiced, silent = change(frames[20], base[20]), change(frames[40], base[40])  # 1.0 s, 2.0 s
    assert (voiced[rows, cols] > 40).sum() > 200 and silent.max() <= 1
    assert voiced[outside(face, voiced.shape)].max() <= 1


def test_swap_with_lip_sync_swaps_the_face_and_moves_the_mouth_in_one_pass(kit_dir: Path, speech: Path, truth,
                                                                          tmp_path: Path) -> None:
    # A photo target: every frame shows the same face, so the frames in silence are the swap alone and
    # the voiced ones must differ from them in the mouth only (the keypoint smoothing runs on the
    # wall clock, so two separate runs of a moving video are not pixel-comparable).
    from engines.testing.synthetic_face import identity_by_name

    photo, source = kit_dir / "samples" / "target.png", kit_dir / "samples" / "source_a.png"
    out = tmp_path / "synced.mp4"
    assert cli(kit_dir, "swap", "-s", str(source), "-t", str(photo), "--lip-sync", str(speech), "-o", str(out),
               *LOSSLESS) == 0
    frames = frames_of(out)
    assert len(frames) == round(SECONDS * 25)  # the default photo rate
    face = truth.images["target.png"].faces[0]
    coral = np.array(identity_by_name(truth.images["source_a.png"].faces[0].identity).skin_bgr, float)
    x1, y1, x2, y2 = face.box
    x, y = int(x1 + 0.25 * (x2 - x1)), int(y1 + 0.62 * (y2 - y1))
    rows, cols = mouth_area(face)
    swapped_only = frames[round(2.0 * 25)]  # in silence
    for t in VOICED + SILENT:
        frame = frames[round(t * 25)]
        cheek = frame[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(cheek - coral).max() < 25, f"not swapped at {t} s"
        diff = change(frame, swapped_only)
        if t in VOICED:
            assert (diff[rows, cols] > 40).sum() > 200, f"the swapped mouth did not open at {t} s"
        else:
            assert diff.max() <= 1, f"a silent frame differs from the swap alone at {t} s"
        assert diff[outside(face, diff.shape)].max() <= 1


def _lip_sync_spec(kit_dir: Path, speech: Path, output: Path) -> JobSpec:
    return JobSpec(sources=[], targets=[str(kit_dir / "samples" / "target.mp4")], output=str(output),
                   lip_sync=str(speech), models=str(kit_dir))


def test_through_the_queue_with_progress_and_the_tag(kit_dir: Path, speech: Path, tmp_path: Path) -> None:
    bus = EventBus()
    out = tmp_path / "queued.mp4"
    with JobStore(tmp_path / "jobs.db", events=bus) as store, bus.subscribe(maxsize=10_000) as events:
        job = store.add(_lip_sync_spec(kit_dir, speech, out))
        LocalExecutor(store, runner_factory, workers=1).run(job_ids=[job.id])
        finished = store.get(job.id)
        seen = events.drain()
    assert finished.state is JobState.COMPLETED, finished.error
    assert finished.progress.done == finished.progress.total == 120  # 4 s of audio at the video's 30 fps
    steps = [e.progress.done for e in seen if e.kind is EventKind.PROGRESS and e.job_id == job.id]
    assert any(0 < done < 120 for done in steps) and steps == sorted(steps)
    assert probe(out).frame_count == 120
    with av.open(str(out)) as container:
        assert AI_TAG in container.metadata.get("comment", "")


def test_cancel_stops_the_job_and_leaves_no_file(kit_dir: Path, speech: Path, tmp_path: Path) -> None:
    bus = EventBus()
    out = tmp_path / "cancelled.mp4"
    with JobStore(tmp_path / "jobs.db", events=bus) as store, bus.subscribe(maxsize=10_000) as events:
        job = store.add(_lip_sync_spec(kit_dir, speech, out))
        executor = LocalExecutor(store, runner_factory, workers=1)
        executor.start(job_ids=[job.id])
        try:
            while True:  # cancel once frames are flowing
                event = events.get(timeout=60)
                assert event is not None, "no progress within a minute"
                if event.kind is EventKind.PROGRESS and event.job_id == job.id and event.progress.done > 0:
                    store.cancel(job.id)
                    break
            assert executor.join(timeout=60)
        finally:
            executor.stop()
        final = store.get(job.id)
    assert final.state is JobState.CANCELLED
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_benchmark_lipsync_times_lip_sync_against_a_plain_transcode(kit_dir: Path, capsys) -> None:
    assert main(["benchmark", "--models", str(kit_dir), "--no-frame", "--lipsync", "--lipsync-seconds", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][-1]
    assert result["mode"] == "lipsync" and result["frames"] == 30  # 1 s of speech at the clip's 30 fps
    assert result["fps"] > 0 and result["transcode_fps"] > 0
    assert result["ratio"] == pytest.approx(result["fps"] / result["transcode_fps"], rel=0.01)
    # The live half comes from the live pipeline's benchmark where the build has it.
    assert (result["live_p50_ms"] is None) == (result["live_p95_ms"] is None)
    if result["live_p50_ms"] is not None:
        assert 0 < result["live_p50_ms"] <= result["live_p95_ms"]


def write_audio(path: Path, samples: np.ndarray, codec: str, rate: int, layout: str) -> Path:
    """`samples` (mono, 16 kHz) encoded with PyAV as `codec` at `rate` in `layout`: a user's audio file."""
    from fractions import Fraction

    import av.audio.resampler

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.audio.resampler.AudioResampler(format=fmt, layout=layout, rate=rate)
        source = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        source.sample_rate, source.pts, source.time_base = 16000, 0, Fraction(1, 16000)
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("name, codec, rate, layout", [
    ("speech.mp3", "libmp3lame", 44100, "stereo"),
    ("speech.m4a", "aac", 48000, "mono"),
    ("speech.ogg", "libopus", 48000, "stereo"),
    ("speech.flac", "flac", 22050, "mono"),
])
def test_any_audio_pyav_reads_drives_the_mel_and_becomes_the_sound(tmp_path: Path, name, codec, rate, layout) -> None:
    from app.media.synth import make_clip

    voice = speech_like(2.0, [(0.5, 1.5)])
    audio = write_audio(tmp_path / name, voice, codec, rate, layout)
    decoded = decode_speech(audio)  # 16 kHz mono, whatever the file's rate and channels
    assert abs(len(decoded) - len(voice)) <= 0.06 * 16000  # encoder padding at most
    loud = np.abs(decoded[int(0.7 * 16000):int(1.3 * 16000)]).mean()
    quiet = np.abs(decoded[int(1.7 * 16000):int(1.95 * 16000)]).mean()
    assert loud > 0.1 and quiet < 0.01  # the bursts are where they were
    clip = make_clip(tmp_path / "clip.mp4", frames=30, fps=30).path  # 1 s: loops to the audio's 2 s
    out = lip_sync_transcode(clip, audio, tmp_path / "out.mkv", lambda frames, _times: list(frames))
    assert out.frames == probe(out.output).frame_count == 60
    with av.open(str(out.output)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.sample_rate == rate
    assert decode_speech(out.output).size == pytest.approx(decoded.size, abs=0.03 * 16000)


@pytest.fixture(scope="module")
def lip_sync_kit(kit_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kit as a user who only lip-syncs has it: no swapper, no recognizer on disk."""
    folder = tmp_path_factory.mktemp("lip-sync-kit")
    manifest = json.loads((kit_dir / "manifest.json").read_text())
    for model in manifest["models"]:
        if model["role"] not in ("swapper", "recognizer"):
            shutil.copy2(kit_dir / model["file"], folder / model["file"])
    shutil.copy2(kit_dir / "manifest.json", folder / "manifest.json")
    return folder


def test_lip_sync_alone_needs_no_swapper_or_recognizer(lip_sync_kit: Path, kit_dir: Path, speech: Path,
                                                        tmp_path: Path, capsys) -> None:
    out = tmp_path / "photo.mp4"
    code = main(["lipsync", "--models", str(lip_sync_kit), "-t", str(kit_dir / "samples" / "target.png"),
                 "-a", str(speech), "-o", str(out)])
    assert code == 0, capsys.readouterr()
    assert probe(out).frame_count == round(SECONDS * 25)
    # … while a swap still says what it misses, by name
    code = main(["swap", "--models", str(lip_sync_kit), "-s", str(kit_dir / "samples" / "source_a.png"),
                 "-t", str(kit_dir / "samples" / "target.png"), "-o", str(tmp_path / "swapped.png")])
    assert code != 0 and "kit_inswapper_128.onnx" in capsys.readouterr().err
