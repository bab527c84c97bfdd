"""The JSON shape of a job in the API: `Job.to_dict()` (what `swapcast jobs list --json` prints) plus
where to download its outputs."""

from __future__ import annotations

from typing import Any

from app.jobs.model import Job, JobState


def output_url(job_id: int, index: int | None = None) -> str:
    return f"/api/jobs/{job_id}/output" + (f"?index={index}" if index is not None else "")


def job_view(job: Job) -> dict[str, Any]:
    """`outputs`: one entry per target (its file name and download URL, once the job completed)."""
    data = job.to_dict()
    destinations = job.spec.destinations()
    done = job.state is JobState.COMPLETED
    several = len(destinations) > 1
    data["outputs"] = [
        {"index": index, "name": path.name, "url": output_url(job.id, index if several else None) if done else None}
        for index, path in enumerate(destinations)
    ]
    return data
