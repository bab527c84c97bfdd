"""Outputs no engine can fix (issue 11, 2.6) and outputs that would replace an input (2.8).

A full disk, a folder nobody can write to and an image asked for as `.mp4` fail the job once with
their own line: no engine is tried after them, and nothing is retried. A source photo, like a
target, is never overwritten, whatever spelling, link or --overwrite.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from app.engine_host import cache as engine_cache
from app.jobs.model import Job, JobSpec, JobState
from app.offline.runner import SwapRunner
from engines.errors import OutputError
from engines.imaging import write_image_atomic
from engines.manager import EngineEvent


class Reporter:
    """The job's reporter as the worker hands it over; records what the runner reports."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.stopping = False

    def progress(self, done: int, total: int) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture
def engine_events() -> Iterator[list[EngineEvent]]:
    """Every try the engine manager makes (both built-in profiles are enabled by default)."""
    events: list[EngineEvent] = []
    manager = engine_cache.shared_manager()
    manager.add_listener(events.append)
    yield events
    manager.remove_listener(events.append)


def run_job(spec: JobSpec) -> None:
    SwapRunner().run(Job(id=1, spec=spec, state=JobState.PROCESSING), Reporter())


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("swapcast: error")]


def noise_png(path: Path, side: int) -> Path:
    """A PNG that does not compress: about 3 × side² bytes."""
    write_image_atomic(path, np.random.default_rng(7).integers(0, 256, (side, side, 3), np.uint8))
    return path


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem (tmpfs), so a write past it fails with ENOSPC as on a full disk."""
    with mounted(tmp_path / "tiny", "size=1m") as where:
        yield where


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A read-only filesystem: not even root can write there (unlike a chmod-ed folder)."""
    with mounted(tmp_path / "ro", "ro,size=1m") as where:
        yield where


@contextmanager
def mounted(where: Path, options: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


# ---- 2.6: errors no engine can fix -----------------------------------------------------------------------
def test_an_image_asked_for_as_mp4_is_refused_at_once_with_the_fix(kit_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out.mp4"
    code = main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples/target.png"), "-o", str(out)])
    [line] = error_lines(capsys)
    assert code != 0 and "'.mp4'" in line and "target.png" in line and "every engine" not in line
    assert not out.exists()


def test_a_queued_image_job_with_an_mp4_output_fails_once_without_trying_an_engine(
        kit_dir, tmp_path, engine_events) -> None:
    spec = JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[str(kit_dir / "samples/target.png")],
                   output=str(tmp_path / "out.mp4"), models=str(kit_dir))
    with pytest.raises(OutputError, match=r"cannot be written as '\.mp4'"):
        run_job(spec)
    assert engine_events == []  # neither built-in profile was tried, nothing to fail over to


def test_a_full_disk_fails_the_job_once_with_its_own_line(kit_dir, tmp_path, tiny_disk, engine_events) -> None:
    target = noise_png(tmp_path / "noise.png", 800)  # ~1.9 MB as PNG: more than the 1 MiB disk holds
    spec = JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[str(target)],
                   output=str(tiny_disk / "out.png"), models=str(kit_dir))
    with pytest.raises(OutputError) as raised:
        run_job(spec)
    line = raised.value.one_line()
    assert "No space left on device" in line and "every engine" not in line and "\n" not in line
    assert [e.kind for e in engine_events] == ["started", "input_error"]  # one try, no failover, no retry
    assert os.listdir(tiny_disk) == []  # no partial file left behind


def test_an_output_folder_on_a_read_only_disk_is_refused_before_any_engine(
        kit_dir, read_only_disk, engine_events) -> None:
    spec = JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[str(kit_dir / "samples/target.png")],
                   output=str(read_only_disk / "new folder" / "out.png"), models=str(kit_dir))
    with pytest.raises(OutputError, match="not writable"):
        run_job(spec)
    assert engine_events == []


def test_swap_into_a_read_only_disk_exits_non_zero_with_one_line(kit_dir, read_only_disk, capsys) -> None:
    code = main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(kit_dir / "samples/target.png"), "-o", str(read_only_disk / "sub" / "out.png")])
    [line] = error_lines(capsys)
    assert code != 0 and "not writable" in line and "every engine" not in line


# ---- 2.8: the source photo is never overwritten -----------------------------------------------------------
@pytest.fixture
def source(kit_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "photos" / "me.png"
    copy.parent.mkdir()
    copy.write_bytes((kit_dir / "samples/source_a.png").read_bytes())
    return copy


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_output_equal_to_the_source_is_refused_even_with_overwrite(kit_dir, source, tmp_path, capsys,
                                                                  spelling) -> None:
    before = source.read_bytes()
    if spelling == "same":
        out = source
    elif spelling == "dotdot":
        out = source.parent / ".." / "photos" / source.name
    else:
        out = tmp_path / "link.png"
        (out.symlink_to if spelling == "symlink" else out.hardlink_to)(source)
    code = main(["swap", "--models", str(kit_dir), "-s", str(source), "-t", str(kit_dir / "samples/target.png"),
                 "-o", str(out), "--overwrite"])
    [line] = error_lines(capsys)
    assert code != 0 and "output is also a source photo" in line
    assert source.read_bytes() == before


def test_a_folder_output_that_would_land_on_the_source_is_refused(kit_dir, source, tmp_path, capsys) -> None:
    """Several targets go into -o as a folder, each under its own name: one named like the source."""
    targets = tmp_path / "targets"
    targets.mkdir()
    for name in (source.name, "other.png"):
        (targets / name).write_bytes((kit_dir / "samples/target.png").read_bytes())
    before = source.read_bytes()
    code = main(["swap", "--models", str(kit_dir), "-s", str(source), "-t", str(targets), "-o", str(source.parent),
                 "--overwrite"])
    [line] = error_lines(capsys)
    assert code != 0 and "output is also a source photo" in line and source.name in line
    assert source.read_bytes() == before


def test_a_queued_job_whose_output_is_its_source_fails_before_writing(kit_dir, source, engine_events) -> None:
    before = source.read_bytes()
    spec = JobSpec(sources=[str(source)], targets=[str(kit_dir / "samples/target.png")], output=str(source),
                   overwrite=True, models=str(kit_dir))
    with pytest.raises(Exception, match="output is also a source photo"):
        run_job(spec)
    assert source.read_bytes() == before and engine_events == []


def test_a_video_that_fills_the_disk_fails_once_and_leaves_no_partial_file(kit_dir, tmp_path, engine_events) -> None:
    with mounted(tmp_path / "small", "size=16k") as disk:
        spec = JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[str(kit_dir / "samples/target.mp4")],
                       output=str(disk / "out.mp4"), models=str(kit_dir))
        with pytest.raises(OutputError) as raised:
            run_job(spec)
        assert "No space left on device" in raised.value.one_line() and "every engine" not in raised.value.one_line()
        assert [e.kind for e in engine_events] == ["started", "input_error"]
        assert os.listdir(disk) == []
