"""Job values: JSON round-trips, structural checks, the JSON view of a job."""

from __future__ import annotations

import json

from app.jobs.model import FINAL_STATES, Job, JobSpec, JobState, Progress


def full_spec() -> JobSpec:
    return JobSpec(
        sources=["/a/one.jpg", "/a/two.jpg"],
        targets=["/b/clip.mp4", "/b/still.png"],
        output="/c/out",
        enhance=True,
        faces="reference",
        reference="/a/ref.jpg",
        source_face=1,
        trim=(1.5, 9.0),
        quality=80,
        encoder="libx265",
        audio=False,
        overwrite=True,
        models="/models",
    )


def test_spec_json_round_trip_keeps_every_field() -> None:
    spec = full_spec()
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert again.trim == (1.5, 9.0) and isinstance(again.trim, tuple)
    minimal = JobSpec(sources=["/s.jpg"], targets=["/t.mp4"], output="/o.mp4")
    assert JobSpec.from_json(minimal.to_json()) == minimal


def test_spec_from_json_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    data = {"sources": ["/s.jpg"], "targets": ["/t.mp4"], "output": "/o.mp4", "from_the_future": 1}
    spec = JobSpec.from_json(json.dumps(data))
    assert spec.faces == "largest" and spec.encoder == "auto" and spec.audio is True and spec.trim is None


def test_spec_problems_name_what_is_wrong() -> None:
    assert full_spec().problems() == []
    bad = JobSpec(
        sources=[], targets=["/t.mp4"], output="/o.mp4", faces="reference", trim=(5.0, 2.0),
        quality=101, encoder="mpeg1", source_face=-1,
    )
    problems = " | ".join(bad.problems())
    for expected in ("no source", "reference image", "trim", "quality", "encoder", "source face"):
        assert expected in problems


def test_states_and_progress() -> None:
    assert FINAL_STATES == {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}
    assert not JobState.PENDING.is_final and not JobState.PROCESSING.is_final
    assert str(JobState.FAILED) == "FAILED"
    assert Progress(5, 10).fraction == 0.5 and Progress(0, 0).fraction == 0.0 and Progress(12, 10).fraction == 1.0


def test_job_dict_has_the_fields_clients_read() -> None:
    job = Job(id=3, spec=full_spec(), state=JobState.PROCESSING, progress=Progress(25, 100), fps=12.5, eta_s=6.0)
    data = json.loads(json.dumps(job.to_dict()))
    assert data["id"] == 3 and data["state"] == "PROCESSING" and data["progress"] == 0.25
    assert data["output"] == "/c/out" and data["error"] is None and data["spec"]["trim"] == [1.5, 9.0]
    done = Job(id=4, spec=full_spec(), state=JobState.COMPLETED, output="/c/out/final")
    assert done.to_dict()["progress"] == 1.0 and done.to_dict()["output"] == "/c/out/final"
