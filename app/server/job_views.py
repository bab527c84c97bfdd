"""The JSON shape of a job in the API: `Job.to_dict()` (what `swapcast jobs list --json` prints) plus
where to download its outputs."""

from __future__ import annotations

from typing import Any

from app.jobs.model import Job, JobState


def output_url(job_id: int, index: int | None = None) -> str:
    return f"/api/jobs/{job_id}/output" + (f"?index={index}" if index is not None else "")


def job_view(job: Job) -> dict[str, Any]:
    """`outputs`: one entry per target (its file name and download URL, once the job completed); for an
    uploaded output, the object URI and its presigned link instead (`objects` lists them too)."""
    data = job.to_dict()
    if job.spec.remote_output:
        stored = {item.uri: item for item in job.objects}
        data["outputs"] = []
        for index, uri in enumerate(job.spec.object_destinations()):
            item = stored.get(uri)
            data["outputs"].append({
                "index": index, "name": uri.rstrip("/").rsplit("/", 1)[-1], "uri": uri,
                "url": item.presigned_url if item else None,
                "url_expires_at": item.presigned_expires_at if item else None,
            })
        return data
    destinations = job.spec.destinations()
    done = job.state is JobState.COMPLETED
    several = len(destinations) > 1
    data["outputs"] = [
        {"index": index, "name": path.name, "url": output_url(job.id, index if several else None) if done else None}
        for index, path in enumerate(destinations)
    ]
    return data
