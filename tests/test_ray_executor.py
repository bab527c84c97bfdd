"""The Ray executor on a local Ray (2 CPUs) with the generated models: a long video split over two
actors matches the local executor's output; an actor killed mid-segment; a bad job among good ones."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from app.jobs.events import EventBus, EventKind
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobSpec, JobState, Progress
from app.jobs.store import JobStore
from app.offline import load_runner_factory
from engines.metadata import AI_TAG
from engines.testing import synthetic_face as sf
from ray_support import audio_samples, decoded, face_clip, psnr

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray for the module (starting one costs seconds on 2 cores)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAPCAST_HOME", str(tmp_path_factory.mktemp("ray-home")))  # the actors inherit it
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("clip") / "long.mp4", seconds=4)


def _spec(kit_dir: Path, target: Path, output: Path, **extra: object) -> JobSpec:
    return JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[str(target)], output=str(output),
                   models=str(kit_dir), quality=95, **extra)  # fine quality: the comparison is of swaps, not of x264


def _run_on_ray(store: JobStore, **options: object):
    from app.cluster.ray_executor import RayExecutor

    with RayExecutor(store, actors=2, segment_seconds=1.0, **options) as executor:
        executor.start()
        assert executor.join(timeout=300)
        return executor.finished, executor.stages


def test_long_video_in_segments_on_two_actors_matches_the_local_executor(ray_cluster, kit_dir, clip, tmp_path) -> None:
    bus = EventBus()
    store = JobStore(tmp_path / "jobs.db", events=bus)
    on_ray = store.add(_spec(kit_dir, clip, tmp_path / "ray.mp4"))
    with bus.subscribe(maxsize=10_000) as events:
        finished, stages = _run_on_ray(store)
        seen = events.drain()
    assert [job.state for job in finished] == [JobState.COMPLETED], finished[0].error
    assert stages.tasks == 4  # 4 s, a keyframe a second, 1 s segments: one task each
    job = store.get(on_ray.id)
    assert (job.progress, job.segments) == (Progress(40, 40), Progress(4, 4))
    # One progress for the job, as the API's events carry it: frames and "segments k/4" rising.
    counted = [event.segments.done for event in seen if event.kind is EventKind.PROGRESS and event.segments]
    assert counted == sorted(counted) and set(counted) == {0, 1, 2, 3, 4}
    # The frame count never goes back and ends full. (Whether a write lands between two segments that
    # finish a few hundred ms apart depends on the 0.25 s progress throttle: "segments k/4" above is the
    # rise a user is guaranteed to see.)
    counts = [event.progress.done for event in seen if event.kind is EventKind.PROGRESS]
    assert counts == sorted(counts) and counts[-1] == 40
    from app.server.events.messages import job_data

    assert (job_data(seen[-1])["segments_done"], job_data(seen[-1])["segments_total"]) == (4, 4)  # /api/events
    assert not store.job_folder(on_ray.id).exists()  # segments and swapped parts are gone once joined

    local = store.add(_spec(kit_dir, clip, tmp_path / "local.mp4"))
    LocalExecutor(store, load_runner_factory()).run(job_ids=[local.id])
    times, frames = decoded(tmp_path / "ray.mp4")
    local_times, local_frames = decoded(tmp_path / "local.mp4")
    source_times, source_frames = decoded(clip)
    assert len(frames) == len(local_frames) == len(source_frames) == 40
    assert times == local_times == source_times
    assert audio_samples(tmp_path / "ray.mp4") == audio_samples(clip) > 0  # the sound, copied once
    with av.open(str(tmp_path / "ray.mp4")) as container:
        assert AI_TAG in container.metadata.get("comment", "")
    # The faces were swapped (not passed through) and like the local executor's, frame by frame (the
    # keypoint smoothing runs on each frame's own time; a segment starts it afresh at its first frame).
    per_frame = [psnr(a, b) for a, b in zip(frames, local_frames)]
    assert min(per_frame) >= 40.0, per_frame
    assert min(psnr(a, b) for a, b in zip(frames, source_frames)) < 35.0


@pytest.mark.parametrize("for_good", [False, True], ids=["process killed, Ray restarts it", "actor gone for good"])
def test_an_actor_killed_mid_segment_runs_it_again_and_counts_it_once(ray_cluster, kit_dir, tmp_path, caplog,
                                                                      monkeypatch, for_good) -> None:
    from app.cluster import pool
    from app.cluster.ray_executor import RayExecutor

    # While Ray restarts the killed actor, calls to it fail as "temporarily unavailable" (under load for
    # a long while: a new process loading the models); what is checked is that it rejoins, however slowly.
    monkeypatch.setattr(pool, "RESTART_WAIT_S", 600.0)

    clip = face_clip(tmp_path / "six.mp4", seconds=6)
    store = JobStore(tmp_path / "jobs.db")
    job = store.add(_spec(kit_dir, clip, tmp_path / "out.mp4"))
    killed: list[int] = []
    with caplog.at_level(logging.WARNING, logger="app.cluster.pool"), \
            RayExecutor(store, actors=2, segment_seconds=2.0) as executor:
        executor.start(job_ids=[job.id])
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            # An actor no more than half-way through its running segment: the kill lands mid-segment (one
            # caught at its last frame finished it before the kill, and nothing was left to notice).
            for actor in executor.pool.actors:
                counts = ray.get(actor.progress.remote(), timeout=120)  # generous: a loaded 2-core CI
                if any(0 < done <= total // 2 for done, total in counts.values()):
                    pid = ray.get(actor.pid.remote(), timeout=120)
                    if for_good:
                        ray.kill(actor, no_restart=True)
                    else:
                        os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.02)
        assert executor.join(timeout=300)
        stages = executor.stages
        # A restarted actor is back in the pool; one that cannot come back has left it.
        assert len(executor.pool.actors) == (1 if for_good else 2)
    assert killed, "no actor was caught mid-segment"
    settled = store.get(job.id)
    assert settled.state is JobState.COMPLETED, settled.error
    assert "its actor died" in caplog.text  # the segment ran again…
    assert stages.tasks == 3  # …and was settled (written) once, as each of the others (6 s in 2 s segments)
    assert (settled.progress.done, settled.progress.total) == (60, 60)
    times, frames = decoded(tmp_path / "out.mp4")
    assert times == decoded(clip)[0] and len(frames) == 60


def test_a_bad_job_fails_with_its_line_and_the_others_complete(ray_cluster, kit_dir, clip, tmp_path) -> None:
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"not a video at all" * 100)
    faceless = tmp_path / "nobody.png"
    import cv2

    cv2.imwrite(str(faceless), sf.busy_background(320, 240, seed=5))
    store = JobStore(tmp_path / "jobs.db")
    good_image = store.add(_spec(kit_dir, kit_dir / "samples/target.png", tmp_path / "a.png"))
    bad_target = store.add(_spec(kit_dir, corrupt, tmp_path / "b.mp4"))  # refused on this machine
    bad_source = store.add(dataclasses.replace(  # refused on the actor: the error travels back
        _spec(kit_dir, kit_dir / "samples/target.png", tmp_path / "c.png"), sources=[str(faceless)]))
    good_video = store.add(_spec(kit_dir, clip, tmp_path / "d.mp4"))
    _run_on_ray(store)
    states = {job_id: store.get(job_id) for job_id in (good_image.id, bad_target.id, bad_source.id, good_video.id)}
    assert states[good_image.id].state is JobState.COMPLETED and (tmp_path / "a.png").exists()
    assert states[good_video.id].state is JobState.COMPLETED and len(decoded(tmp_path / "d.mp4")[1]) == 40
    for job_id, name in ((bad_target.id, "broken.mp4"), (bad_source.id, "nobody.png")):
        job = states[job_id]
        assert job.state is JobState.FAILED
        assert name in job.error and "\n" not in job.error and "internal error" not in job.error
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "c.png").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_job_cancelled_mid_video_stops_its_tasks_and_the_actors_take_the_next_job(ray_cluster, kit_dir, clip,
                                                                                    tmp_path) -> None:
    from app.cluster.ray_executor import RayExecutor

    long_clip = face_clip(tmp_path / "eight.mp4", seconds=8)
    store = JobStore(tmp_path / "jobs.db")
    doomed = store.add(_spec(kit_dir, long_clip, tmp_path / "cancelled.mp4"))
    with RayExecutor(store, actors=2, segment_seconds=1.0) as executor:
        executor.start(forever=True)
        deadline = time.monotonic() + 120
        while store.get(doomed.id).progress.done == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        store.cancel(doomed.id)
        next_job = store.add(_spec(kit_dir, clip, tmp_path / "next.mp4"))
        while not store.get(next_job.id).state.is_final and time.monotonic() < deadline + 120:
            time.sleep(0.1)
        executor.stop()
        assert executor.join(timeout=60)
        assert len(executor.pool.actors) == 2  # the cancelled tasks' actors were handed back, none retired
    cancelled = store.get(doomed.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.progress.done < 80
    assert not (tmp_path / "cancelled.mp4").exists()
    assert store.get(next_job.id).state is JobState.COMPLETED
    assert len(decoded(tmp_path / "next.mp4")[1]) == 40
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
