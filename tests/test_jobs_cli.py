"""`swapcast jobs ...` and `swapcast worker` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli.main import main
from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.media.synth import make_clip
from test_jobs_fakes import FakeRunner


@pytest.fixture(scope="module")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real (tiny) photos and a video, made once: `jobs add` checks what the files are."""
    folder = tmp_path_factory.mktemp("media-files")
    picture = np.full((16, 16, 3), 128, np.uint8)
    for name in ("face.jpg", "still.png", "ref.jpg"):
        cv2.imwrite(str(folder / name), picture)
    make_clip(folder / "clip.mp4", frames=2, width=32, height=32)
    (folder / "notes.txt").write_text("not media")
    return folder


@pytest.fixture()
def media(tmp_path: Path, media_files: Path) -> Path:
    """A folder of this test's own with a source photo, a video and an image target."""
    folder = tmp_path / "media"
    shutil.copytree(media_files, folder)
    return folder


def copy_of(media: Path, name: str, as_name: str) -> Path:
    """A copy of one of the media files under a name the FakeRunner reads (e.g. permanent-x.mp4)."""
    path = media / as_name
    shutil.copyfile(media / name, path)
    return path


@pytest.fixture(autouse=True)
def models_present(swapcast_home: Path, kit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The generated models stand for the user's: `jobs add` refuses jobs the engine cannot run."""
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    return kit_dir


@pytest.fixture()
def fake_runner(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    runner = FakeRunner(frames=3)
    monkeypatch.setattr("app.offline.runner.runner_factory", lambda: runner)  # what the front ends load
    return runner


def add(media: Path, *extra: str) -> int:
    return main(["jobs", "add", "-s", str(media / "face.jpg"), "-t", str(media / "clip.mp4"), *extra])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("swapcast: error: "), err
    return err


def test_add_queues_a_job_with_absolute_paths_and_every_option(
    media: Path, kit_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(media)
    code = main([
        "jobs", "add", "-s", "face.jpg", "-t", "clip.mp4", "-o", "out.mp4", "--enhance",
        "--reference", "ref.jpg", "--source-face", "1", "--trim", "2", "7.5", "--quality", "70",
        "--encoder", "libx265", "--no-audio", "--overwrite", "--models", str(kit_dir), "--json",
    ])
    assert code == 0
    created = json.loads(capsys.readouterr().out)
    with JobStore() as store:
        spec = store.get(created["id"]).spec
    assert spec.sources == [str(media / "face.jpg")] and spec.targets == [str(media / "clip.mp4")]
    assert spec.output == str(media / "out.mp4") and spec.reference == str(media / "ref.jpg")
    assert spec.faces == "reference"  # implied by --reference
    assert (spec.enhance, spec.source_face, spec.trim, spec.quality) == (True, 1, (2.0, 7.5), 70)
    assert (spec.encoder, spec.audio, spec.overwrite, spec.models) == ("libx265", False, True, str(kit_dir))


def test_add_expands_a_target_folder_to_its_media_files(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "add", "-s", str(media / "face.jpg"), "-t", str(media), "-o", str(media / "out")]) == 0
    assert "job 1 added (4 targets)" in capsys.readouterr().out
    with JobStore() as store:
        targets = [Path(t).name for t in store.get(1).spec.targets]
    assert targets == ["clip.mp4", "face.jpg", "ref.jpg", "still.png"]  # sorted, no notes.txt


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-s", "MEDIA/missing.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/o.mp4"], "source face image not found: MEDIA/missing.jpg"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/gone.mp4", "-o", "MEDIA/o.mp4"], "target not found: MEDIA/gone.mp4"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/o.mp4", "--faces", "reference"], "needs --reference"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/still.png"], "output exists"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/clip.mp4", "--overwrite"], "output is also a target"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-t", "MEDIA/still.png", "-o", "MEDIA/ref.jpg"], "must be a folder"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/o.mp4", "--trim", "5", "2"], "trim"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/o.mp4", "--quality", "200"], "quality"),
    ],
)
def test_add_rejects_bad_input_with_one_line_and_queues_nothing(
    media: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.replace("MEDIA", str(media)) for arg in args]
    assert main(["jobs", "add", *argv]) == 2
    assert expected.replace("MEDIA", str(media)) in one_error_line(capsys)
    with JobStore() as store:
        assert store.list() == []


def test_list_json_parses_and_has_the_fields(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add(media, "-o", str(media / "a.mp4")) == 0
    assert add(media, "-o", str(media / "b.mp4")) == 0
    with JobStore() as store:
        store.claim("w1", 30, job_ids=[2])
        store.update_progress(2, 25, 100, 10.0, 7.5)
    capsys.readouterr()
    assert main(["jobs", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == [1, 2]
    for row in rows:
        assert {"id", "state", "progress", "error", "output", "fps", "eta_s", "attempts"} <= set(row)
        assert isinstance(row["progress"], float) and 0.0 <= row["progress"] <= 1.0
    assert rows[0]["state"] == "PENDING" and rows[0]["output"] == str(media / "a.mp4")
    assert rows[1]["state"] == "PROCESSING" and rows[1]["progress"] == 0.25 and rows[1]["error"] is None
    assert main(["jobs", "list", "--json", "--state", "processing"]) == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [2]


def test_list_table_and_show(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list"]) == 0
    assert "no jobs" in capsys.readouterr().out
    add(media, "-o", str(media / "a.mp4"), "--trim", "1", "2")
    with JobStore() as store:
        store.claim("w1", 30)
        store.fail(1, "no face found in clip.mp4", transient=False)
    capsys.readouterr()
    assert main(["jobs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PROGRESS", "FPS", "ETA", "TARGET", "OUTPUT", "NOTE"]
    assert lines[1].split()[:2] == ["1", "FAILED"] and "no face found in clip.mp4" in lines[1]
    assert main(["jobs", "show", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("job 1: FAILED") and "trim=1-2s" in text and "error      no face found" in text
    assert main(["jobs", "show", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["error"] == "no face found in clip.mp4"


@pytest.mark.parametrize("action", ["show", "cancel", "retry", "rm", "watch"])
def test_an_unknown_job_id_is_a_one_line_error(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", action, "42"]) == 2
    assert "no job with id 42" in one_error_line(capsys)


def test_cancel_retry_rm(media: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add(media, "-o", str(media / "a.mp4"))
    add(media, "-o", str(media / "b.mp4"))
    assert main(["jobs", "cancel", "1"]) == 0
    assert "job 1 cancelled" in capsys.readouterr().out
    assert main(["jobs", "retry", "1"]) == 0
    with JobStore() as store:
        assert store.get(1).spec.overwrite is False
    assert main(["jobs", "retry", "1"]) == 2  # pending already
    assert "job 1 is pending" in one_error_line(capsys)
    with JobStore() as store:
        store.claim("w1", 30, job_ids=[2])
    assert main(["jobs", "cancel", "2"]) == 0
    assert "cancel requested" in capsys.readouterr().out
    assert main(["jobs", "rm", "2"]) == 2
    assert "job 2 is running" in one_error_line(capsys)
    assert main(["jobs", "rm", "1"]) == 0
    with JobStore() as store:
        assert [(job.id, job.state, job.cancel_requested) for job in store.list()] == [(2, JobState.PROCESSING, True)]



# What only running a job needs: `jobs add` must not pay for it (seconds with real engines) nor
# need it (the queue works where the engine cannot load).
ENGINE_MODULES = ("onnxruntime", "insightface", "av", "app.offline.runner", "app.engine_host.cache",
                  "engines.manager", "engines.allocator", "engines.external.inprocess",
                  "engines.external.facefusion_http", "engines.external.deep_live_cam")


def test_jobs_add_checks_the_job_without_loading_the_engine(media: Path, models_present: Path) -> None:
    script = (
        "import sys\n"
        "from app.cli.main import main\n"
        f"code = main(['jobs', 'add', '-s', {str(media / 'face.jpg')!r}, '-t', {str(media / 'clip.mp4')!r},"
        f" '-o', {str(media / 'out.mp4')!r}])\n"
        f"print(code, [name for name in {ENGINE_MODULES!r} if name in sys.modules])\n"
    )
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1:] == ["0 []"], done.stdout + done.stderr  # queued; no engine loaded
    with JobStore() as store:
        assert [job.state for job in store.list()] == [JobState.PENDING]


def test_worker_runs_the_queue_with_the_runner_factory(
    media: Path, fake_runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    add(media, "-o", str(media / "a.mp4"))
    main(["jobs", "add", "-s", str(media / "face.jpg"), "-t", str(media / "still.png"), "-o", str(media / "b.png")])
    capsys.readouterr()
    assert main(["worker", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "2 jobs: 2 completed" in captured.out
    assert f"job 1 completed: {media / 'a.mp4'}" in captured.err
    assert sorted(job_id for job_id, _ in fake_runner.calls) == [1, 2]
    assert main(["jobs", "watch", "1"]) == 0  # already completed: returns at once
    assert main(["worker"]) == 0
    assert "no pending jobs" in capsys.readouterr().out


def test_worker_exits_1_when_a_job_failed(media: Path, fake_runner: FakeRunner, capsys: pytest.CaptureFixture[str]) -> None:
    permanent = copy_of(media, "clip.mp4", "permanent-x.mp4")
    assert main(["jobs", "add", "-s", str(media / "face.jpg"), "-t", str(permanent), "-o", str(media / "o.mp4")]) == 0
    assert main(["worker"]) == 1
    captured = capsys.readouterr()
    assert "1 job: 1 failed" in captured.out and "job 1 failed: no face found in permanent-x.mp4" in captured.err
    assert main(["jobs", "watch", "1"]) == 1


def test_worker_without_the_swap_runner_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "app.offline.runner", None)  # as if the module did not exist
    assert main(["worker"]) == 2
    assert "offline swap runner (app.offline.runner) is not part of this build" in one_error_line(capsys)


def test_rerunning_a_completed_job_can_replace_its_output(
    media: Path, fake_runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    output = media / "a.mp4"
    add(media, "-o", str(output))
    assert main(["worker"]) == 0
    output.write_bytes(b"made by the first run")
    capsys.readouterr()
    assert main(["jobs", "retry", "1"]) == 0
    assert "without --overwrite the re-run will fail" in capsys.readouterr().err
    main(["jobs", "cancel", "1"])
    assert main(["jobs", "retry", "1", "--overwrite"]) == 0
    with JobStore() as store:
        job = store.get(1)
    assert job.state is JobState.PENDING and job.spec.overwrite is True


def test_swap_says_why_a_job_failed_once(media: Path, fake_runner: FakeRunner, capsys: pytest.CaptureFixture[str]) -> None:
    permanent = copy_of(media, "clip.mp4", "permanent-x.mp4")
    code = main(["swap", "-s", str(media / "face.jpg"), "-t", str(permanent), "-o", str(media / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("no face found in permanent-x.mp4") == 1, err
    assert "swapcast: error: job 1 failed: no face found in permanent-x.mp4" in err


def test_swap_says_where_the_output_went_and_each_warning_once(
    media: Path, fake_runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy_of(media, "clip.mp4", "warn-x.mp4")
    output = media / "o.mp4"
    assert main(["swap", "-s", str(media / "face.jpg"), "-t", str(target), "-o", str(output)]) == 0
    captured = capsys.readouterr()
    both = captured.out + captured.err
    assert both.count(str(output)) == 2, both  # "job 1 queued: … → OUTPUT", then "done: OUTPUT"
    assert both.count("no face in frame 2") == 1 and both.count("audio track dropped") == 1, both
    assert f"done: {output}" in captured.out


LONG_ERROR = (
    "inswapper_128.onnx is missing from /home/someone/.local/share/swapcast/models — run `swapcast models "
    "download inswapper_128`, or download https://huggingface.co/ezioruan/inswapper_128.onnx/resolve/main/"
    "inswapper_128.onnx and put it into /home/someone/.local/share/swapcast/models as inswapper_128.onnx"
)


def test_list_shows_what_failed_and_the_fix_in_one_short_note_and_the_rest_on_demand(
    media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add(media, "-o", str(media / "a.mp4"))
    with JobStore() as store:
        store.claim("w1", 30)
        store.fail(1, LONG_ERROR, transient=False)
    capsys.readouterr()
    assert main(["jobs", "list"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    note = row.split("a.mp4", 1)[1].strip()
    assert note.startswith("inswapper_128.onnx is missing") and "swapcast models download inswapper_128" in note
    assert "https://" not in note and len(note) <= 140, note  # never cut mid-URL
    assert "jobs show 1" in note  # where the rest is
    assert main(["jobs", "list", "--verbose"]) == 0
    assert LONG_ERROR in capsys.readouterr().out
    assert main(["jobs", "show", "1"]) == 0
    assert LONG_ERROR in capsys.readouterr().out


def test_a_target_without_any_stream_is_refused_in_plain_words(tmp_path: Path) -> None:
    from app.media.probe import probe
    from engines.errors import InputError

    metadata_only = tmp_path / "metadata.mp4"  # ffmpeg reads it as a container with no streams
    metadata_only.write_text(";FFMETADATA1\ntitle=x\n")
    with pytest.raises(InputError) as caught:
        probe(metadata_only)
    assert "has no video stream (no streams at all)" in caught.value.one_line()
    assert "only no streams" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            "no engine can swap video now (builtin: det_10g.onnx is missing from /x/models — run `swapcast models "
            "download det_10g`; builtin-lite: resting 30 s after 2 failure(s) (boom)) — enable or fix one in "
            "integrations.json; `swapcast engines` says why each is unavailable",
            "no engine can swap video now — enable or fix one in integrations.json",
        ),
        ("no face found in clip.mp4", "no face found in clip.mp4"),
    ],
)
def test_a_brief_error_keeps_what_failed_and_the_first_fix(error: str, expected: str) -> None:
    from app.jobs.errors import brief

    assert brief(error) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-s", "MEDIA/clip.mp4", "-t", "MEDIA/still.png", "-o", "MEDIA/o.png"],
         "the source face clip.mp4 is a video; a job takes the face from a photo — give a photo of the face"),
        (["-s", "MEDIA/fake.jpg", "-t", "MEDIA/still.png", "-o", "MEDIA/o.png"],
         "the source face fake.jpg is not a picture SwapCast can read — give a photo"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/still.png", "-o", "MEDIA/o.png", "--reference", "MEDIA/clip.mp4"],
         "the reference face clip.mp4 is a video"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/notes.txt", "-o", "MEDIA/o.png"],
         "the target notes.txt is not an image or a video SwapCast handles — give a file ending in one of"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/fake.jpg", "-o", "MEDIA/o.png"],
         "the target fake.jpg is not a picture SwapCast can read"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/still.png", "-o", "MEDIA/o.mp4"],
         "o.mp4: an image target (still.png) cannot be written as '.mp4' — name the output o.png"),
        (["-s", "MEDIA/face.jpg", "-t", "MEDIA/clip.mp4", "-o", "MEDIA/o.png"],
         "o.png: a video target (clip.mp4) cannot be written as '.png' — name the output o.mp4"),
    ],
)
@pytest.mark.parametrize("command", ["jobs add", "swap"])
def test_a_job_that_could_never_run_is_refused_when_queued(
    media: Path, fake_runner: FakeRunner, command: str, args: list[str], expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (media / "fake.jpg").write_text("a text file named like a photo")
    argv = [arg.replace("MEDIA", str(media)) for arg in args]
    assert main([*command.split(), *argv]) == 2
    assert expected in one_error_line(capsys)
    with JobStore() as store:
        assert store.list() == []  # nothing queued
    assert fake_runner.calls == []


@pytest.mark.parametrize("command", ["jobs add", "swap"])
def test_without_models_a_job_for_the_built_in_engine_is_refused_with_the_download_command(
    media: Path, monkeypatch: pytest.MonkeyPatch, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SWAPCAST_MODELS")  # the user's models folder, empty
    argv = ["-s", str(media / "face.jpg"), "-t", str(media / "clip.mp4"), "-o", str(media / "o.mp4")]
    assert main([*command.split(), *argv]) == 2
    line = one_error_line(capsys)
    assert "the built-in engine cannot run without" in line and "inswapper_128.onnx" in line
    assert "swapcast models download --all" in line
    with JobStore() as store:
        assert store.list() == []


def test_without_built_in_models_a_job_an_external_engine_may_run_is_queued(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from standins.helpers import builtin_entry, facefusion_entry, write_integrations

    monkeypatch.delenv("SWAPCAST_MODELS")
    engines = {"builtin": builtin_entry(), "facefusion": facefusion_entry()}
    monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(write_integrations(tmp_path, engines)))
    assert add(media, "-o", str(media / "o.mp4")) == 0  # whether FaceFusion is up is known only when it runs
