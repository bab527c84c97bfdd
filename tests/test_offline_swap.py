"""`swapcast swap` end to end on the generated models: the right pixels, frames, fps, audio and tags,
and one-line errors for bad input while the queue goes on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.cli.main import main
from engines.imaging import read_image, write_image_atomic
from engines.metadata import AI_TAG, read_image_tags
from engines.testing.synthetic_face import draw_face, identity_by_name, plain_background


def swap(kit_dir: Path, *args: str) -> int:
    return main(["swap", "--models", str(kit_dir), *args])


def jobs_json(capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["jobs", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def cheek_colour(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    x, y = int(x1 + 0.25 * (x2 - x1)), int(y1 + 0.62 * (y2 - y1))
    return image[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).mean(axis=0)


@pytest.fixture(scope="module")
def truth(kit_dir: Path):
    from engines.testing.samples import load_truth

    return load_truth(kit_dir / "samples")


def test_image_swap_changes_the_face_tags_the_file_and_keeps_the_input(kit_dir, tmp_path, truth, capsys) -> None:
    target = kit_dir / "samples" / "target.png"
    before = target.read_bytes()
    out = tmp_path / "out.png"
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(target), "-o", str(out)) == 0
    result, original = read_image(out), read_image(target)
    face = truth.images["target.png"].faces[0]
    coral = np.array(identity_by_name(truth.images["source_a.png"].faces[0].identity).skin_bgr, float)
    assert np.abs(cheek_colour(result, face.box) - coral).max() < 25
    assert np.array_equal(result[:50], original[:50])  # far from the face: identical
    assert AI_TAG in read_image_tags(out)["comment"]
    assert target.read_bytes() == before
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)
    [job] = jobs_json(capsys)
    assert job["state"] == "COMPLETED" and job["output"] == str(out) and job["progress"] == 1.0


def test_video_swap_keeps_frames_fps_audio_and_tags(kit_dir, tmp_path, truth) -> None:
    out = tmp_path / "out.mp4"
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_b.png"), "-t", str(kit_dir / "samples/target.mp4"),
                "-o", str(out)) == 0
    video = truth.video
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == tuple(video.size)
        assert round(float(stream.average_rate)) == video.fps
        assert len(container.streams.audio) == 1
        assert AI_TAG in container.metadata.get("comment", "")
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == video.frame_count
    middle = video.frame_count // 2
    lime = np.array(identity_by_name(truth.images["source_b.png"].faces[0].identity).skin_bgr, float)
    assert np.abs(cheek_colour(frames[middle], video.frames[middle][0].box) - lime).max() < 30


def test_the_same_video_swapped_twice_gives_the_same_frames(kit_dir, tmp_path) -> None:
    # The keypoint smoothing runs on the video's own clock, not the wall clock: a re-render (a retried
    # job, a segment run again on another machine) gives back the same pictures.
    outs = [tmp_path / "first.mp4", tmp_path / "second.mp4"]
    for out in outs:
        assert swap(kit_dir, "-s", str(kit_dir / "samples/source_b.png"), "-t", str(kit_dir / "samples/target.mp4"),
                    "-o", str(out), "--no-audio", "--trim", "0", "1.5") == 0
    decoded = []
    for out in outs:
        with av.open(str(out)) as container:
            decoded.append(np.stack([f.to_ndarray(format="bgr24") for f in container.decode(video=0)]))
    assert decoded[0].shape == decoded[1].shape and np.array_equal(decoded[0], decoded[1])


def test_no_audio_option_drops_the_track(kit_dir, tmp_path) -> None:
    out = tmp_path / "silent.mp4"
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(kit_dir / "samples/target.mp4"),
                "-o", str(out), "--no-audio", "--trim", "0", "1") == 0
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 0
        assert 28 <= sum(1 for _ in container.decode(video=0)) <= 31


def _face_image(path: Path, name: str = "rose", size: tuple[int, int] = (640, 480), channels: int = 3) -> Path:
    image = plain_background(*size)
    draw_face(image, (size[0] / 2, size[1] / 2), min(size) * 0.6, identity_by_name(name))
    if channels == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    elif channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ok, data = cv2.imencode(path.suffix, image)
    path.write_bytes(data.tobytes())
    return path


@pytest.mark.parametrize("kind", ["alpha", "grayscale", "4k", "non-ascii"])
def test_awkward_but_valid_targets_work(kit_dir, tmp_path, kind) -> None:
    folder = tmp_path / ("vidéo テスト" if kind == "non-ascii" else "in")
    folder.mkdir()
    target = {
        "alpha": lambda: _face_image(folder / "alpha.png", channels=4),
        "grayscale": lambda: _face_image(folder / "grey.png", channels=1),
        "4k": lambda: _face_image(folder / "big.png", size=(3840, 2160)),
        "non-ascii": lambda: _face_image(folder / "visage_é.png"),
    }[kind]()
    out = folder / "résultat.png"
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(target), "-o", str(out)) == 0
    assert read_image(out).shape[:2] == read_image(target).shape[:2]


def _bad_targets(tmp_path: Path, kit_dir: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    truncated = tmp_path / "truncated.mp4"
    data = (kit_dir / "samples/target.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    return {"empty": (empty, "empty"), "text": (text, "not a video"), "truncated": (truncated, "truncated.mp4")}


@pytest.mark.parametrize("case", ["empty", "text", "truncated"])
def test_bad_targets_fail_with_one_line_naming_the_file(kit_dir, tmp_path, capsys, case) -> None:
    target, words = _bad_targets(tmp_path, kit_dir)[case]
    out = tmp_path / "out.mp4"
    code = swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(target), "-o", str(out))
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("swapcast: error")]
    assert code != 0 and len(error_lines) == 1
    assert target.name in error_lines[0] and words in error_lines[0]
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*.part*"))


def test_source_problems_name_the_source(kit_dir, tmp_path, capsys) -> None:
    nobody = tmp_path / "nobody.png"
    write_image_atomic(nobody, plain_background(320, 240))
    code = swap(kit_dir, "-s", str(nobody), "-t", str(kit_dir / "samples/target.png"), "-o", str(tmp_path / "o.png"))
    assert code != 0 and f"no face found in {nobody}" in capsys.readouterr().err
    code = swap(kit_dir, "-s", str(kit_dir / "samples/target.mp4"), "-t", str(kit_dir / "samples/target.png"),
                "-o", str(tmp_path / "o.png"))
    assert code != 0 and "is a video" in capsys.readouterr().err


def test_source_with_several_faces_uses_the_largest_and_says_so(kit_dir, tmp_path, capsys) -> None:
    group = plain_background(900, 500)
    draw_face(group, (200, 250), 150, identity_by_name("lime"))
    draw_face(group, (600, 250), 300, identity_by_name("plum"))
    source = tmp_path / "group.png"
    write_image_atomic(source, group)
    out = tmp_path / "o.png"
    assert swap(kit_dir, "-s", str(source), "-t", str(kit_dir / "samples/target.png"), "-o", str(out)) == 0
    assert "2 faces found, used the largest" in capsys.readouterr().out


def test_video_without_faces_keeps_its_frames_and_warns(kit_dir, tmp_path, capsys) -> None:
    from app.media.synth import make_clip

    clip = make_clip(tmp_path / "noface.mp4", frames=12).path
    out = tmp_path / "out.mp4"
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(clip), "-o", str(out)) == 0
    assert "no face found in any frame" in capsys.readouterr().out
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_existing_output_is_kept_without_overwrite(kit_dir, tmp_path, capsys) -> None:
    out = tmp_path / "exists.png"
    out.write_bytes(b"precious")
    code = swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(kit_dir / "samples/target.png"),
                "-o", str(out))
    assert code != 0 and "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"


def test_unwritable_output_folder_is_named(kit_dir, tmp_path, capsys, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # root may write anywhere: make the folder read-only for all
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    code = swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(kit_dir / "samples/target.png"),
                "-o", str(locked / "o.png"))
    assert code != 0 and str(locked) in capsys.readouterr().err


def test_queue_goes_on_after_a_bad_job(kit_dir, tmp_path, capsys) -> None:
    bad, _ = _bad_targets(tmp_path, kit_dir)["text"]
    good_out, bad_out = tmp_path / "good.png", tmp_path / "bad.mp4"
    src = str(kit_dir / "samples/source_a.png")
    assert main(["jobs", "add", "--models", str(kit_dir), "-s", src, "-t", str(bad), "-o", str(bad_out)]) == 0
    assert main(["jobs", "add", "--models", str(kit_dir), "-s", src, "-t", str(kit_dir / "samples/target.png"),
                 "-o", str(good_out)]) == 0
    assert main(["worker"]) == 1  # a job failed
    states = {job["output"] or job["id"]: job["state"] for job in jobs_json(capsys)}
    assert "FAILED" in states.values() and states[str(good_out)] == "COMPLETED"
    assert good_out.exists() and not bad_out.exists()


def test_ctrl_c_cancels_and_leaves_nothing(kit_dir, tmp_path) -> None:
    """A real `swapcast swap` process interrupted mid-video: exit 130, job CANCELLED, no file."""
    long_clip = tmp_path / "long.mp4"
    from app.media.synth import make_clip

    make_clip(long_clip, frames=900, width=640, height=360)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "SWAPCAST_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    script = Path(sys.executable).with_name("swapcast")
    process = subprocess.Popen([str(script), "swap", "--models", str(kit_dir), "-s",
                                str(kit_dir / "samples/source_a.png"), "-t", str(long_clip), "-o", str(out)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listing = subprocess.run([str(script), "jobs", "list", "--json"], env=env, capture_output=True, text=True)
        jobs = json.loads(listing.stdout or "[]")
        if jobs and jobs[0]["state"] == "PROCESSING" and jobs[0]["progress"] > 0:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    listing = subprocess.run([str(script), "jobs", "list", "--json"], env=env, capture_output=True, text=True)
    assert json.loads(listing.stdout)[0]["state"] == "CANCELLED"
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_several_targets_go_into_a_folder_keeping_their_names(kit_dir, tmp_path) -> None:
    folder = tmp_path / "targets"
    folder.mkdir()
    for name in ("one.png", "two.png"):
        shutil.copy(kit_dir / "samples" / "target.png", folder / name)
    out = tmp_path / "out"
    out.mkdir()
    assert swap(kit_dir, "-s", str(kit_dir / "samples/source_a.png"), "-t", str(folder), "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]
    assert all(AI_TAG in read_image_tags(p)["comment"] for p in out.iterdir())


def test_enhancer_blend_changes_how_much_of_the_enhanced_face_is_kept(kit_dir, tmp_path, capsys) -> None:
    src, target = str(kit_dir / "samples/source_a.png"), str(kit_dir / "samples/target.png")
    outs = {}
    for blend in ("0", "1"):
        outs[blend] = tmp_path / f"blend{blend}.png"
        assert swap(kit_dir, "-s", src, "-t", target, "-o", str(outs[blend]), "--enhance", "--enhance-blend", blend) == 0
    plain = tmp_path / "plain.png"
    assert swap(kit_dir, "-s", src, "-t", target, "-o", str(plain)) == 0
    assert np.array_equal(read_image(outs["0"]), read_image(plain))  # blend 0: the enhancer changes nothing
    assert np.abs(read_image(outs["1"]).astype(int) - read_image(plain).astype(int)).max() > 10
    capsys.readouterr()
    assert swap(kit_dir, "-s", src, "-t", target, "-o", str(tmp_path / "x.png"), "--enhance-blend", "3") == 2
    assert "--enhance-blend 3 is out of range" in capsys.readouterr().err
