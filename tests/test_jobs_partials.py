"""A job's partial files (`.NAME.xxxx.part.mp4`) are removed when it is reclaimed or settles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.jobs.model import JobSpec, JobState
from app.jobs.partials import partial_files
from app.jobs.store import JobStore
from app.media.output import temp_path_for
from engines.external.outputs import temp_output
from engines.imaging import write_image_atomic
from test_jobs_fakes import FakeClock


def image_temp_name(final: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The temporary name write_image_atomic really uses (caught at its rename)."""
    seen: list[str] = []

    def refuse(source: str, destination: str) -> None:
        seen.append(Path(source).name)
        raise OSError("stop here")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        with pytest.raises(OSError):
            write_image_atomic(final, np.zeros((4, 4, 3), np.uint8))
    return seen[0]


def test_every_writers_temporary_name_is_found_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video, image = tmp_path / "holiday.mp4", tmp_path / "Portrait.PNG"
    ours = [
        temp_path_for(video).name,
        temp_output(video, "facefusion").name,
        temp_output(video, "facefusion").name + ".tagged.mp4",  # finalize()'s re-muxed copy
        temp_output(image, "deep_live_cam").name,
        image_temp_name(image, monkeypatch),
    ]
    not_ours = [
        "holiday.mp4",  # the output itself
        ".holiday.notes.txt",
        temp_path_for(tmp_path / "holiday.old.mp4").name,  # another output's temporary
        temp_output(tmp_path / "holiday.old.mp4", "facefusion").name,
        temp_path_for(tmp_path / "holiday.mkv").name,
        "models.bin.part",  # a download's .part
    ]
    for name in ours + not_ours:
        (tmp_path / name).write_bytes(b"x")
    found = {path.name for path in partial_files([video, image])}
    assert found == set(ours)


def test_reclaiming_a_dead_workers_job_removes_its_partials_but_not_a_running_jobs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    clock = FakeClock()

    def spec(target: str, output: Path) -> JobSpec:
        return JobSpec(sources=[str(tmp_path / "face.jpg")], targets=[str(tmp_path / target)], output=str(output),
                       overwrite=True)

    with JobStore(tmp_path / "jobs.sqlite3", clock=clock) as store:
        dead = store.add(spec("a.mp4", out / "a.mp4")).id
        same_output = store.add(spec("b.mp4", out / "a.mp4")).id  # the same -o, run by a live worker
        other = store.add(spec("c.mp4", out / "c.mp4")).id
        store.claim("w-dead", 10, job_ids=[dead])
        store.claim("w-live", 100, job_ids=[same_output])
        store.claim("w-live", 100, job_ids=[other])
        shared_partial = temp_path_for(out / "a.mp4")
        other_partial = temp_path_for(out / "c.mp4")
        shared_partial.write_bytes(b"half a video")
        other_partial.write_bytes(b"half a video")
        clock.advance(11)
        assert [job.id for job in store.recover_stale()] == [dead]
        assert shared_partial.exists()  # job 2 may be writing it: not touched
        assert other_partial.exists()

        store.fail(same_output, "no face", transient=False, worker_id="w-live")
        assert not shared_partial.exists()  # nobody runs a job for out/a.mp4 now
        store.complete(other, str(out / "c.mp4"), worker_id="w-live")
        assert not other_partial.exists()
        assert store.get(dead).state is JobState.PENDING


def test_a_reclaimed_jobs_partial_made_before_the_claim_goes_and_a_new_attempts_stays(tmp_path: Path) -> None:
    clock = FakeClock()
    final = tmp_path / "out.mp4"
    with JobStore(tmp_path / "jobs.sqlite3", clock=clock) as store:
        job_id = store.add(JobSpec(sources=["/s.jpg"], targets=["/t.mp4"], output=str(final))).id
        store.claim("w-dead", 10)
        stale = temp_path_for(final)
        stale.write_bytes(b"x")
        clock.advance(11)
        store.recover_stale()
        assert not stale.exists()
        store.claim("w-new", 10)
        fresh = temp_path_for(final)  # the new attempt's own temporary
        fresh.write_bytes(b"x")
        assert store.recover_stale() == [] and fresh.exists()
