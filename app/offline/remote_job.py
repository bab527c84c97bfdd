"""A job with remote inputs or a cloud output: fetch → render → upload, as one runner call.

1. Each remote source/target/reference is streamed into the job's own folder (JobStore.job_folder:
   `inputs/`) by app.storage.fetch.fetch_input — size-limited, SSRF-checked for http(s), resumed on a
   retry (the folder outlives a failed attempt). This is the first FETCH_SHARE of the job's progress.
2. The job is rendered exactly as a local one (SwapRunner._render: temp file + atomic rename), from the
   fetched files; a cloud output is rendered into the job's folder (`output/`).
3. Each render is uploaded to its object URI by app.storage.upload.upload_object (multipart, verified
   by size + checksum; the object appears under its key only when complete, a cancel aborts it): the
   last UPLOAD_SHARE of the progress. The job is COMPLETED only after every upload is confirmed, with
   the object URIs and presigned links in its row.
On success the fetched inputs go, and the render too unless --keep-local. Errors keep their kind:
InputError / OutputError fail the job once, TransientError is retried by the queue with back-off.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from engines.errors import SwapCastError

from app.jobs import remote as remote_checks
from app.jobs.errors import JobInterrupted
from app.jobs.model import Job, JobSpec, StoredOutput, is_remote_text
from app.jobs.runner import ProgressReporter, RunResult

log = logging.getLogger(__name__)

FETCH_SHARE = 0.10  # of the job's progress: downloading the inputs
UPLOAD_SHARE = 0.10  # uploading the outputs
_PRE_TOTAL = 1000  # progress units while the frame count is not known yet (before the inputs are here)

Render = Callable[[JobSpec, ProgressReporter], RunResult]


class _Shifted:
    """The render's progress (frames of its total) as part of the whole job's: offset and padded."""

    def __init__(self, report: ProgressReporter, extra_before: int, extra_after: int) -> None:
        self._report = report
        self._before = extra_before
        self._after = extra_after

    def progress(self, done: int, total: int) -> None:
        self._report.progress(self._before + done, self._before + total + self._after)

    def warn(self, message: str) -> None:
        self._report.warn(message)

    @property
    def stopping(self) -> bool:
        return self._report.stopping


class RemoteJob:
    def __init__(self, job: Job, report: ProgressReporter, render: Render) -> None:
        self.job = job
        self.spec = job.spec
        self.report = report
        self.render = render
        folder = getattr(report, "job_folder", None)
        if folder is None:  # a reporter without a store (tests, a relay): the default queue's layout
            from app.paths import user_paths

            folder = user_paths().data / "job-files" / str(job.id)
        self.folder = Path(folder)
        self.inputs = self.folder / "inputs"
        self.outputs = self.folder / "output"
        self._thread = threading.current_thread()

    def _cancelled(self) -> bool:
        return self.report.stopping

    def _relay(self, done: int, total: int) -> None:
        """Progress from inside a download/upload. The storage library may call it on its own threads:
        there a stop signal is not raised (it would land in the library's worker) but seen through
        `cancelled()`, and raised on this job's thread once the transfer returns."""
        if threading.current_thread() is self._thread:
            self.report.progress(done, total)
            return
        try:
            self.report.progress(done, total)
        except JobInterrupted:
            pass

    # --- the three steps ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the users' files: owner-only
        self.folder.mkdir(exist_ok=True, mode=0o700)
        try:
            local = self._fetch_all()
            objects: list[StoredOutput] = []
            if self.spec.remote_output:
                result = self._render_and_upload(local, objects)
            else:
                result = self.render(local, _ShareTracker(self, upload=False))
        except BaseException:
            shutil.rmtree(self.outputs, ignore_errors=True)  # a half render or an unuploaded one
            raise  # the fetched inputs stay: a retry resumes from them
        shutil.rmtree(self.inputs, ignore_errors=True)
        if not self.spec.keep_local:
            shutil.rmtree(self.outputs, ignore_errors=True)
        _remove_if_empty(self.folder)
        return result

    def _fetch_all(self) -> JobSpec:
        """The spec with every remote input replaced by its fetched local copy."""
        remote = self.spec.remote_inputs()
        if not remote:
            return self.spec
        from app.storage.fetch import fetch_input

        policy = remote_checks.fetch_policy(self.spec)  # the one admission checked the URLs with
        share = FETCH_SHARE * _PRE_TOTAL / len(remote)
        fetched: dict[str, str] = {}
        self.report.progress(0, _PRE_TOTAL)
        for index, uri in enumerate(remote):
            base = index * share

            def relay(done: int, total: int | None, base: float = base) -> None:
                part = done / total if total else 0.0
                self._relay(int(base + share * min(1.0, part)), _PRE_TOTAL)

            try:
                path = fetch_input(uri, self.inputs, policy=policy, progress=relay, cancelled=self._cancelled)
            except SwapCastError:  # FetchCancelled, or a failure while stopping: the stop is what counts
                if self.report.stopping:
                    self.report.progress(int(base), _PRE_TOTAL)  # raises the queue's JobCancelled / JobReleased
                raise
            fetched[uri] = str(path)
            self.report.progress(int(base + share), _PRE_TOTAL)

        def local(text: str) -> str:
            return fetched.get(text, text)

        return dataclasses.replace(
            self.spec, sources=[local(s) for s in self.spec.sources], targets=[local(t) for t in self.spec.targets],
            reference=local(self.spec.reference) if self.spec.reference else None,
        )

    def _render_and_upload(self, local: JobSpec, objects: list[StoredOutput]) -> RunResult:
        from app.storage.upload import upload_object

        uris = self.spec.object_destinations()
        self.outputs.mkdir(parents=True, exist_ok=True, mode=0o700)
        if len(uris) == 1:
            output = str(self.outputs / _object_name(uris[0]))
        else:
            output = str(self.outputs) + "/"
        render_spec = dataclasses.replace(local, output=output, overwrite=True, keep_local=False)
        renders = render_spec.destinations()
        shifted = _ShareTracker(self, upload=True)
        result = self.render(render_spec, shifted)
        total = shifted.total
        before, after = shifted.before, shifted.after
        # Only the targets that rendered are uploaded (a job with a failed target raised above).
        share = after / max(1, len(uris))
        for index, (path, uri) in enumerate(zip(renders, uris)):
            base = before + total + index * share

            def relay(done: int, size: int | None, base: float = base) -> None:
                part = done / size if size else 0.0
                self._relay(int(base + share * min(1.0, part)), before + total + after)

            try:
                stored = upload_object(path, uri, progress=relay, cancelled=self._cancelled)
            except SwapCastError:  # an aborted upload: no object under the key
                if self.report.stopping:
                    self.report.progress(int(base), before + total + after)  # raises JobCancelled / JobReleased
                raise
            self.report.progress(int(base + share), before + total + after)  # raises if cancelled meanwhile
            objects.append(StoredOutput(uri=stored.uri, size=stored.size, sha256=stored.sha256,
                                        presigned_url=stored.presigned_url,
                                        presigned_expires_at=stored.presigned_expires_at))
        output_uri = uris[0] if len(uris) == 1 else self.spec.output
        return RunResult(output=output_uri, warnings=result.warnings, objects=objects)


class _ShareTracker(_Shifted):
    """_Shifted whose padding follows the render's frame total: fetch = FETCH_SHARE, upload = UPLOAD_SHARE."""

    def __init__(self, job: RemoteJob, *, upload: bool) -> None:
        super().__init__(job.report, 0, 0)
        self._fetched = bool(job.spec.remote_inputs())
        self._upload = upload
        self.total = 0

    @property
    def before(self) -> int:
        return self._before

    @property
    def after(self) -> int:
        return self._after

    def progress(self, done: int, total: int) -> None:
        if total != self.total and total > 0:
            self.total = total
            upload = UPLOAD_SHARE if self._upload else 0.0
            render_share = 1.0 - upload - (FETCH_SHARE if self._fetched else 0.0)
            whole = total / render_share
            self._before = round(whole * FETCH_SHARE) if self._fetched else 0
            self._after = max(1, round(whole * upload)) if self._upload else 0
        super().progress(done, total)


def _object_name(uri: str) -> str:
    return PurePosixPath(urlsplit(uri).path).name if is_remote_text(uri) else Path(uri).name


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # a --keep-local render is still in it
