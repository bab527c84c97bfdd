"""`swapcast worker --ray` as a user runs it: a worker killed mid-job resumes from the segments on disk;
Ray missing or an address that does not answer is one line, a non-zero exit and an untouched queue."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ray_support import decoded, face_clip
from standins.helpers import free_port

SWAPCAST = Path(sys.executable).with_name("swapcast")


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SWAPCAST), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _jobs(env: dict[str, str]) -> list[dict]:
    return json.loads(_cli(env, "jobs", "list", "--json").stdout)


@pytest.fixture
def queued(kit_dir: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A home with one queued video job; its environment for the CLI."""
    env = {**os.environ, "SWAPCAST_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    clip = face_clip(tmp_path / "six.mp4", seconds=6)
    added = _cli(env, "jobs", "add", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(clip), "-o", str(tmp_path / "out.mp4"), "--quality", "95")
    assert added.returncode == 0, added.stderr
    return env, clip


def _assert_one_line_and_untouched(result: subprocess.CompletedProcess[str], env: dict[str, str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and all(word in lines[0] for word in words), result.stderr
    [job] = _jobs(env)
    assert (job["state"], job["attempts"]) == ("PENDING", 0)


def test_ray_missing_names_the_extra_to_install(queued, tmp_path) -> None:
    env, _ = queued
    blocker = tmp_path / "no-ray"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None  # `import ray` fails\n")
    result = _cli({**env, "PYTHONPATH": str(blocker)}, "worker", "--ray")
    _assert_one_line_and_untouched(result, env, "pip install 'swapcast[cluster]'")


def test_an_address_that_does_not_answer_is_named(queued) -> None:
    env, _ = queued
    address = f"ray://127.0.0.1:{free_port()}"
    _assert_one_line_and_untouched(_cli(env, "worker", "--ray", address), env, address, "did not answer")


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory):
    """A running local Ray the workers join (`--ray ADDRESS`), as on a cluster."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAPCAST_HOME", str(tmp_path_factory.mktemp("ray-home")))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _swapped(home: Path) -> dict[str, tuple[int, int]]:
    """The segments already swapped and written under the job's folder: name → (inode, mtime)."""
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
            for path in home.rglob("job-files/*/ray/target-0/swapped/seg_*")}


def test_a_worker_killed_mid_job_resumes_from_the_segments_on_disk(queued, ray_address, tmp_path) -> None:
    env, clip = queued
    home = Path(env["SWAPCAST_HOME"])
    command = [str(SWAPCAST), "worker", "--ray", ray_address, "--actors", "2", "--segment-seconds", "1"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_swapped(home)) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    done_before = _swapped(home)
    assert 2 <= len(done_before) < 6, f"the worker was not caught mid-job: {sorted(done_before)}"
    assert _jobs(env)[0]["state"] == "PROCESSING"  # as a crash leaves it
    damaged = next(home.rglob(f"job-files/*/ray/target-0/swapped/{sorted(done_before)[-1]}"))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 3])  # a part cut short: redone, not joined

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    [job] = _jobs(env)
    assert job["state"] == "COMPLETED", job["error"]
    assert job["attempts"] == 2
    assert (job["frames_done"], job["segments_done"], job["segments_total"]) == (60, 6, 6)
    reused = f"{len(done_before) - 1} of 6 segments were already swapped by an earlier attempt"
    assert any(reused in warning for warning in job["warnings"]), job["warnings"]
    times, frames = decoded(tmp_path / "out.mp4")
    assert times == decoded(clip)[0] and len(frames) == 60


def test_ray_options_without_ray_and_a_bad_actor_list_are_one_line(capsys) -> None:
    from app.cli.main import main

    assert main(["worker", "--actors", "2"]) == 2
    assert "add --ray" in capsys.readouterr().err
    assert main(["benchmark", "--offline", "--actors", "1,two"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--actors '1,two'" in err and "e.g. --actors 1,2,4" in err and "\n" not in err
