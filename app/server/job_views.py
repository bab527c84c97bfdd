"""The JSON shape of a job in the API: `Job.to_dict()` (what `swapcast jobs list --json` prints) plus
where to download its outputs — and, for every role but admin, without the server's own paths.

Who sees what: an admin token (the server's owner: tokens, settings, --allow-paths) sees the job as the
CLI does, with the paths on the server. Operators and viewers are remote clients: every local path
(inputs, output, models folder, paths inside the error and warnings) is reduced to its file name; the
output is fetched by its `url`, never by where it lies. Remote inputs and object URIs are not server
paths and are shown as given, less a URL's password and query (a presigned input's signature).
"""

from __future__ import annotations

from typing import Any

from app.jobs.model import Job, JobState, is_remote_text

from .public_paths import public_name, public_text, sees_paths
from .roles import Role

_PATH_FIELDS = ("sources", "targets")
_PATH_FIELD = ("reference", "output", "models", "lip_sync")


def output_url(job_id: int, index: int | None = None) -> str:
    return f"/api/jobs/{job_id}/output" + (f"?index={index}" if index is not None else "")


def job_view(job: Job, role: Role = Role.ADMIN) -> dict[str, Any]:
    """`outputs`: one entry per target (its file name and download URL, once the job completed); for an
    uploaded output, the object URI and its presigned link instead (`objects` lists them too)."""
    data = job.to_dict()
    data["outputs"] = _outputs(job)
    return data if sees_paths(role) else _without_paths(data, job)


def _outputs(job: Job) -> list[dict[str, Any]]:
    if job.spec.remote_output:
        stored = {item.uri: item for item in job.objects}
        outputs = []
        for index, uri in enumerate(job.spec.object_destinations()):
            item = stored.get(uri)
            outputs.append({
                "index": index, "name": uri.rstrip("/").rsplit("/", 1)[-1], "uri": uri,
                "url": item.presigned_url if item else None,
                "url_expires_at": item.presigned_expires_at if item else None,
            })
        return outputs
    destinations = job.spec.destinations()
    done = job.state is JobState.COMPLETED
    several = len(destinations) > 1
    return [
        {"index": index, "name": path.name, "url": output_url(job.id, index if several else None) if done else None}
        for index, path in enumerate(destinations)
    ]


def _without_paths(data: dict[str, Any], job: Job) -> dict[str, Any]:
    spec = dict(data["spec"])
    for name in _PATH_FIELDS:
        spec[name] = [public_name(text) for text in spec[name]]
    for name in _PATH_FIELD:
        spec[name] = public_name(spec[name])
    known = tuple(text for text in (*job.spec.sources, *job.spec.targets, job.spec.reference, job.spec.output,
                                    job.spec.models, job.spec.lip_sync, job.output,
                                    *map(str, job.spec.destinations())) if text and not is_remote_text(text))
    return {**data, "spec": spec, "output": public_name(data["output"]), "error": public_text(data["error"], known),
            "warnings": [public_text(text, known) for text in data["warnings"]]}
