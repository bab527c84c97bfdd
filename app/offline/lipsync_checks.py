"""Checks a lip-sync job needs before it is queued that only the engine can answer: a photo target
must show a face, or the job would only turn the photo into a still video with sound."""

from __future__ import annotations

from pathlib import Path

from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES, read_image

from app.jobs.model import JobSpec, is_remote_text


def check_lip_sync_photos(spec: JobSpec) -> None:
    """InputError (one line) for the first photo target of a lip-sync job in which no face is found.
    Loads the built-in engine (shared, so the job that follows in this process reuses it)."""
    if spec.lip_sync is None:
        return
    photos = [Path(t) for t in spec.targets if not is_remote_text(t) and Path(t).suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        return
    from app.engine_host.cache import live_engine  # the in-process engine the job will run on

    _, engine = live_engine(spec.models, swap=bool(spec.sources))
    for photo in photos:
        if not engine.faces(read_image(photo)):  # the detector the job will run, on the file as it reads it
            raise InputError(f"no face found in the photo {photo.name}: lip sync needs a face to move",
                             "give a photo with a clearly visible face, facing the camera")
