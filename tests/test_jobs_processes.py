"""Workers in separate processes sharing one queue file: exactly-once claims, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from app.jobs.model import JobState
from app.jobs.store import JobStore
from app.jobs.worker import Worker
from app.jobs.model import JobSpec
from app.media.probe import probe
from app.media.synth import make_clip
from test_jobs_fakes import FakeRunner, VideoRunner, make_spec

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
WAIT_S = 60.0  # generous bound: three Python processes start on a 2-core CI machine

# A worker process: opens the store, says it is ready, waits for the go file (so that all start
# claiming together), then serves the queue.
WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from app.jobs.store import JobStore
    from app.jobs.worker import Worker
    from test_jobs_fakes import FakeRunner, VideoRunner

    db, log, go, mode = Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]), sys.argv[6]
    store = JobStore(db)
    (go.parent / f"ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.005)
    if mode == "drain":
        runner = FakeRunner(frames=2, frame_delay_s=0.001, log_path=log)
        Worker(store, runner, poll_s=0.01, progress_interval_s=0.0).run_until_empty()
    elif mode == "video":  # writes a real video through app.media, slowly; an hour-long lease
        Worker(store, VideoRunner(frame_delay_s=0.2), poll_s=0.01, lease_s=3600).run_until_empty()
    else:  # "slow": a job that takes minutes, reporting often; a short lease
        runner = FakeRunner(frames=100_000, frame_delay_s=0.01, log_path=log)
        Worker(store, runner, poll_s=0.01, lease_s=float(mode.split(":")[1]), progress_interval_s=0.02).run_until_empty()
    """
)


def start_worker(tmp_path: Path, db: Path, log: Path, go: Path, mode: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "worker_script.py"
    script.write_text(WORKER_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), str(REPO), str(TESTS), str(db), str(log), str(go), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(condition, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def kill_9_mid_job(store: JobStore, job_id: int, victim: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker once its job has made progress (it holds the lease), and reap it."""
    try:
        wait_until(lambda: store.get(job_id).progress.done > 0)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=WAIT_S)
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.communicate()


def test_three_processes_run_thirty_jobs_exactly_once(tmp_path: Path) -> None:
    db, log, go = tmp_path / "jobs.sqlite3", tmp_path / "runs.log", tmp_path / "go"
    with JobStore(db) as store:
        for index in range(30):
            store.add(make_spec("ok", str(index)))
    workers = [start_worker(tmp_path, db, log, go, "drain") for _ in range(3)]
    wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == 3)
    go.touch()
    for process in workers:
        _, stderr = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, stderr.decode()
    runs = [line.split() for line in log.read_text().splitlines()]
    assert Counter(int(job_id) for job_id, _, _ in runs) == Counter(range(1, 31))  # each job ran once
    assert len({pid for _, _, pid in runs}) >= 2  # the processes really competed for the jobs
    with JobStore(db) as store:
        jobs = store.list()
    assert len(jobs) == 30
    assert all(job.state is JobState.COMPLETED and job.attempts == 1 for job in jobs)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_job_of_a_worker_killed_mid_job_is_recovered_and_completed(tmp_path: Path) -> None:
    db, log, go = tmp_path / "jobs.sqlite3", tmp_path / "runs.log", tmp_path / "go"
    with JobStore(db) as store:
        job_id = store.add(make_spec("ok", "long")).id
        go.touch()
        victim = start_worker(tmp_path, db, log, go, "slow:0.5")
        kill_9_mid_job(store, job_id, victim)
        assert victim.returncode == -signal.SIGKILL
        orphan = store.get(job_id)
        assert orphan.state is JobState.PROCESSING and orphan.worker_id is not None
        assert str(victim.pid) in orphan.worker_id

        # A new worker takes the job over (at once: the dead worker was on this host).
        rescuer = Worker(store, FakeRunner(frames=3), poll_s=0.01, lease_s=0.5)
        job = rescuer.run_job(job_id, timeout=WAIT_S)
    assert job.state is JobState.COMPLETED and job.attempts == 2
    assert job.worker_id == rescuer.worker_id
    assert any("process ended" in warning for warning in job.warnings)
    assert not log.exists()  # the killed worker never finished it


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_worker_started_after_a_kill_9_takes_the_dead_workers_job_at_once(tmp_path: Path) -> None:
    db, log, go = tmp_path / "jobs.sqlite3", tmp_path / "runs.log", tmp_path / "go"
    with JobStore(db) as store:
        job_id = store.add(make_spec("ok", "long")).id
        go.touch()
        victim = start_worker(tmp_path, db, log, go, "slow:3600")  # an hour-long lease
        kill_9_mid_job(store, job_id, victim)
        assert store.get(job_id).state is JobState.PROCESSING  # the dead worker still "holds" it

        # What `swapcast worker` does when restarted: it must not say "no pending jobs" for an hour.
        rescuer = Worker(store, FakeRunner(frames=3), poll_s=0.01)
        finished = rescuer.run_until_empty()
    assert [(job.id, job.state) for job in finished] == [(job_id, JobState.COMPLETED)]
    assert finished[0].attempts == 2 and finished[0].worker_id == rescuer.worker_id
    assert any("process ended" in warning for warning in finished[0].warnings)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_worker_killed_mid_video_leaves_no_part_file_once_its_job_is_reclaimed(tmp_path: Path) -> None:
    db, log, go = tmp_path / "jobs.sqlite3", tmp_path / "runs.log", tmp_path / "go"
    clip = make_clip(tmp_path / "clip.mp4", frames=40, width=64, height=48).path
    out = tmp_path / "out"
    out.mkdir()
    final = out / "swapped.mp4"
    with JobStore(db) as store:
        job_id = store.add(JobSpec(sources=[str(clip)], targets=[str(clip)], output=str(final))).id
        go.touch()
        victim = start_worker(tmp_path, db, log, go, "video")
        kill_9_mid_job(store, job_id, victim)
        left = sorted(path.name for path in out.iterdir())
        assert len(left) == 1 and left[0].startswith(".swapped.") and left[0].endswith(".part.mp4"), left
        assert not final.exists()  # half a video never appears under the user's name

        rescuer = Worker(store, VideoRunner(), poll_s=0.01)
        finished = rescuer.run_until_empty()
    assert [(job.id, job.state) for job in finished] == [(job_id, JobState.COMPLETED)]
    assert sorted(path.name for path in out.iterdir()) == ["swapped.mp4"]  # the dead worker's .part is gone
    assert probe(final).frame_count == 40


# `swapcast worker --forever` with the FakeRunner in place of the real one.
CLI_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from app.cli.main import main
    from app.offline import runner
    from test_jobs_fakes import FakeRunner

    runner.runner_factory = FakeRunner
    sys.exit(main(["worker", "--forever", "--poll", "0.02"]))
    """
)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_stopping_the_worker_command_puts_its_running_job_back(
    tmp_path: Path, swapcast_home: Path, signal_name: str
) -> None:
    if not hasattr(signal, signal_name) or sys.platform == "win32":
        pytest.skip(f"needs POSIX {signal_name}")
    with JobStore() as store:  # the user's queue, in this test's SWAPCAST_HOME
        job_id = store.add(make_spec("block")).id
        script = tmp_path / "cli_worker.py"
        script.write_text(CLI_SCRIPT)
        process = subprocess.Popen(
            [sys.executable, str(script), str(REPO), str(TESTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SWAPCAST_HOME": str(swapcast_home)},
        )
        try:
            wait_until(lambda: store.get(job_id).state is JobState.PROCESSING)
            process.send_signal(getattr(signal, signal_name))
            out, err = process.communicate(timeout=WAIT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, err.decode()
        job = store.get(job_id)
    assert job.state is JobState.PENDING and job.attempts == 0 and job.worker_id is None
    assert "1 job: 1 pending" in out.decode()
