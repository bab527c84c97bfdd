"""Test doubles for the job queue (no tests here): a scriptable FakeRunner and spec helpers.

Importable as `test_jobs_fakes` by the tests (pytest puts tests/ on sys.path) and by the worker
scripts the process tests start (they add tests/ to sys.path themselves).

A job's behaviour is read from its first target's file name, `<kind>-<anything>`:
    ok-…         report `frames` frames, return the output
    warn-…       like ok, plus a warning through report.warn and one in the result
    transientN-… raise TransientError on the first N attempts, then behave like ok
    permanent-…  raise InputError (a SwapCastError): fails at once
    crash-…      raise ValueError (an internal error)
    block-…      report progress 0/frames forever, until the worker makes progress() raise
    stall-…      sleep `stall_s` without reporting, then behave like ok
    badresult-…  return something that is not a RunResult
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.jobs.model import Job, JobSpec
from app.jobs.runner import ProgressReporter, RunResult
from engines.errors import InputError, TransientError


def make_spec(kind: str = "ok", name: str = "x", output: str | None = None) -> JobSpec:
    return JobSpec(
        sources=["/fake/source.jpg"],
        targets=[f"/fake/{kind}-{name}.mp4"],
        output=output or f"/fake/out/{kind}-{name}.mp4",
    )


def behaviour(job: Job) -> str:
    return Path(job.spec.targets[0]).stem.split("-")[0]


@dataclass
class FakeRunner:
    frames: int = 4
    frame_delay_s: float = 0.0
    stall_s: float = 0.0
    log_path: Path | None = None  # a line "job_id attempt pid" per successful run (O_APPEND)
    started: threading.Event = field(default_factory=threading.Event)  # set when a block- job runs
    calls: list[tuple[int, int]] = field(default_factory=list)  # (job id, attempt) per run() call

    def run(self, job: Job, report: ProgressReporter) -> RunResult:
        self.calls.append((job.id, job.attempts))
        kind = behaviour(job)
        if kind.startswith("transient"):
            failures = int(kind[len("transient"):] or 1)
            if job.attempts <= failures:
                raise TransientError(f"GPU out of memory on attempt {job.attempts}", "retrying")
        elif kind == "permanent":
            raise InputError(f"no face found in {Path(job.spec.targets[0]).name}")
        elif kind == "crash":
            raise ValueError("boom\nwith a second line")
        elif kind == "badresult":
            return "not a RunResult"  # type: ignore[return-value]
        elif kind == "block":
            self.started.set()
            while True:  # only JobCancelled / JobReleased from progress() ends this
                report.progress(0, self.frames)
                time.sleep(0.005)
        elif kind == "stall":
            time.sleep(self.stall_s)
        warnings: list[str] = []
        for done in range(1, self.frames + 1):
            if self.frame_delay_s:
                time.sleep(self.frame_delay_s)
            report.progress(done, self.frames)
        if kind == "warn":
            report.warn("no face in frame 2")
            warnings.append("audio track dropped")
        if self.log_path is not None:
            _append_line(self.log_path, f"{job.id} {job.attempts} {os.getpid()}\n")
        return RunResult(output=job.spec.output, warnings=warnings)


@dataclass
class VideoRunner:
    """Writes each job's first target (a real video) to its output through app.media, with its
    hidden .part temporary, taking `frame_delay_s` per frame; progress from the runner's thread."""

    frame_delay_s: float = 0.0

    def run(self, job: Job, report: ProgressReporter) -> RunResult:
        from app.media.probe import probe
        from app.media.transcode import TranscodeOptions, transcode

        target, output = Path(job.spec.targets[0]), job.spec.destinations()[0]
        total = probe(target).frame_count
        done = [0]
        cancel = threading.Event()
        outcome: dict[str, object] = {}

        def slow(frames: list) -> list:  # type: ignore[type-arg]
            time.sleep(self.frame_delay_s * len(frames))
            return frames

        def work() -> None:
            try:
                options = TranscodeOptions(overwrite=job.spec.overwrite, batch_size=1, audio=False)
                outcome["result"] = transcode(target, output, slow, options,
                                              progress=lambda d, _t: done.__setitem__(0, d), cancel=cancel)
            except BaseException as error:  # noqa: BLE001 — handed to the runner's thread
                outcome["error"] = error

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.02)
                report.progress(done[0], total)
        except BaseException:
            cancel.set()
            thread.join()
            raise
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return RunResult(output=str(output))


def _append_line(path: Path, line: str) -> None:
    # One write() of a short line with O_APPEND is atomic, even from several processes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class FakeClock:
    """Unix time that moves only when told to: back-off and lease tests without sleeping."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
