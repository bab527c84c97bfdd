"""`swapcast benchmark --api`: the task API on a real server it starts on 127.0.0.1:<free port>.

In one run: requests per second for `GET /api/status` and for posting image jobs, and the latency a
WebSocket subscriber of `/api/events` sees between a job's progress write (`JobStore.update_progress`,
as a worker makes it, commit included) and its message arriving — for a worker in the server's process
(the in-process event bus) and for one in another process (seen by the hub's ~1 Hz store poll).

Server and clients share the machine (and, here, one Python process for the server and the worker
side), so the figures are a floor for what a client on another machine sees. Counts and time are
bounded; no worker runs, so posted jobs stay queued in a throw-away database.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.imaging import write_image_atomic
from engines.testing.kit import write_kit

from app.jobs.events import EventBus
from app.jobs.model import JobSpec
from app.jobs.store import JobStore
from app.models_option import models_folder_set
from app.pipeline.stats import percentile
from app.server.context import ServerContext, ServerSettings
from app.server.roles import Role
from app.server.runner import serving
from app.server.tokens import TokenStore

Log = Callable[[str], None]


@dataclass(frozen=True)
class ApiBenchPlan:
    clients: int = 4  # concurrent HTTP clients (threads, keep-alive connections)
    requests: int = 2000  # per endpoint, at most
    seconds: float = 5.0  # per endpoint, at most
    progress_writes: int = 200  # in-process latency samples
    remote_writes: int = 10  # other-process latency samples (each waits for the ~1 Hz poll)


QUICK = ApiBenchPlan(clients=2, requests=60, seconds=2.0, progress_writes=20, remote_writes=2)


@dataclass
class ApiResult:
    status_endpoint: str  # GET /api/status
    status_rps: float
    status_requests: int
    jobs_path: str  # POST /api/jobs
    jobs_per_s: float
    jobs_posted: int
    event_ms_p50: float  # progress write → WebSocket message, worker in the server's process
    event_ms_p95: float
    event_samples: int
    remote_event_ms_p50: float  # the same, worker in another process (store poll)
    remote_event_ms_p95: float
    remote_samples: int
    clients: int
    mode: str = "api"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"mode": data.pop("mode"), **data}

    def table(self) -> str:
        rows = [
            (self.status_endpoint, f"{self.status_rps:,.0f} req/s", f"{self.status_requests} requests, "
                                                                     f"{self.clients} clients"),
            (self.jobs_path, f"{self.jobs_per_s:,.0f} jobs/s", f"{self.jobs_posted} image jobs, {self.clients} clients"),
            ("progress → /api/events", f"p50 {self.event_ms_p50:.1f} ms  p95 {self.event_ms_p95:.1f} ms",
             f"{self.event_samples} writes, worker in the server's process"),
            ("progress → /api/events", f"p50 {self.remote_event_ms_p50:.0f} ms  p95 {self.remote_event_ms_p95:.0f} ms",
             f"{self.remote_samples} writes by a store without the server's bus, as another process: 1 s poll"),
        ]
        width = max(len(r[0]) for r in rows)
        value = max(len(r[1]) for r in rows)
        return "\n".join(f"  {name:<{width}}  {figure:<{value}}  ({note})" for name, figure, note in rows)


class _Client:
    """One keep-alive HTTP connection with the bearer token."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.connection.request(method, path, body=body, headers={**self.headers, **(headers or {})})
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def _hammer(plan: ApiBenchPlan, make: Callable[[], Callable[[], None]]) -> tuple[int, float]:
    """Run `plan.clients` threads, each calling its own `make()` until the shared count or time
    runs out; (calls made, seconds)."""
    lock = threading.Lock()
    remaining = [plan.requests]
    errors: list[BaseException] = []
    deadline = time.perf_counter() + plan.seconds

    def loop() -> None:
        call = make()
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                call()
        except BaseException as error:  # reported on the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=loop, name=f"api-bench-{n}") for n in range(plan.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return plan.requests - remaining[0], elapsed


def _bench_status(url: str, token: str, plan: ApiBenchPlan) -> tuple[str, float, int]:
    def make() -> Callable[[], None]:
        client = _Client(url, token)

        def call() -> None:
            status, body = client.request("GET", "/api/status")
            if status != 200:
                raise RuntimeError(f"GET /api/status answered {status}: {body[:200]!r}")

        return call

    count, seconds = _hammer(plan, make)
    return "GET /api/status", count / seconds, count


def _job_body(folder: Path, index: int) -> dict[str, Any]:
    """What a client posts for one image job: server-side paths inside --allow-paths."""
    return {"sources": [str(folder / "face.png")], "targets": [str(folder / "photo.png")],
            "output": str(folder / "out" / f"{index}.png")}


def _bench_jobs(url: str, token: str, folder: Path, plan: ApiBenchPlan) -> tuple[str, float, int]:
    """Image jobs posted as a client posts them; a refused post ends the run with the server's answer
    (timing something else instead would hide a broken route behind a figure)."""
    counter = iter(range(10**9))
    counter_lock = threading.Lock()

    def next_index() -> int:
        with counter_lock:
            return next(counter)

    def make() -> Callable[[], None]:
        client = _Client(url, token)

        def call() -> None:
            data = json.dumps(_job_body(folder, next_index())).encode()
            answer, text = client.request("POST", "/api/jobs", data, {"Content-Type": "application/json"})
            if answer != 201:
                raise RuntimeError(f"POST /api/jobs answered {answer}: {text[:200]!r}")

        return call

    count, seconds = _hammer(plan, make)
    return "POST /api/jobs", count / seconds, count


def _event_latency(ws_url: str, token: str, writer: JobStore, job_id: int, samples: int,
                   worker_id: str, jitter_s: float = 0.0) -> list[float]:
    """ms from just before each progress write until its message arrives on the WebSocket, sorted.

    `jitter_s`: wait a random part of it before each write, so writes land at random moments of
    the hub's poll cycle (as a real worker's do) instead of right after the poll that saw the last one."""
    from websockets.sync.client import connect

    found: list[float] = []
    random = np.random.default_rng(1)
    with connect(ws_url + "/api/events", additional_headers={"Authorization": f"Bearer {token}"},
                 compression=None) as websocket:
        for done in range(1, samples + 1):
            if jitter_s:
                time.sleep(float(random.uniform(0, jitter_s)))
            started = time.perf_counter()
            writer.update_progress(job_id, done, samples, fps=30.0, eta_s=1.0, worker_id=worker_id)
            deadline = started + 30.0
            while True:
                text = websocket.recv(timeout=max(0.01, deadline - time.perf_counter()))
                message = json.loads(text)
                data = message["data"]
                if message["type"] == "job" and data["id"] == job_id and data["done"] == done:
                    found.append((time.perf_counter() - started) * 1000.0)
                    break
    return sorted(found)


def run_api_benchmark(plan: ApiBenchPlan, log: Log) -> ApiResult:
    with tempfile.TemporaryDirectory(prefix="swapcast-api-bench-") as temp:
        root = Path(temp)
        images = root / "images"
        images.mkdir()
        rng = np.random.default_rng(0)
        for name in ("face.png", "photo.png"):
            write_image_atomic(images / name, rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
        # Posted jobs pass the same admission as `jobs add`, which wants the built-in engine's models:
        # the generated kit (0.1 s to write) stands in; the jobs are queued, never run.
        write_kit(root / "kit")
        bus = EventBus()
        store = JobStore(root / "jobs.sqlite3", events=bus)
        tokens = TokenStore(root / "tokens.json")
        _, token = tokens.create(Role.ADMIN, "api benchmark")
        context = ServerContext(store=store, bus=bus, tokens=tokens,
                                settings=ServerSettings(uploads=root / "uploads", allow_paths=(images.resolve(),)))
        try:
            with models_folder_set(root / "kit"), serving(context) as handle:
                url = handle.url
                log(f"API server on {url} ({plan.clients} clients, ≤ {plan.requests} requests or "
                    f"{plan.seconds:g} s per endpoint)")
                status_endpoint, status_rps, status_count = _bench_status(url, token, plan)
                jobs_path, jobs_rps, jobs_count = _bench_jobs(url, token, images, plan)
                ws_url = "ws" + url.removeprefix("http")
                # A job held by "a worker" in the server's process: its writes go through the bus.
                job = store.add(JobSpec(**_job_body(images, -1)))
                store.claim("bench-local", lease_s=600, job_ids=[job.id])
                local = _event_latency(ws_url, token, store, job.id, plan.progress_writes, "bench-local")
                # Another process's worker: a second JobStore on the file, with no bus.
                remote_job = store.add(JobSpec(**_job_body(images, -2)))
                with JobStore(store.path) as other:
                    other.claim("bench-remote", lease_s=600, job_ids=[remote_job.id])
                    remote = _event_latency(ws_url, token, other, remote_job.id, plan.remote_writes, "bench-remote",
                                            jitter_s=context.hub.poll_s)
        finally:
            store.close()
    return ApiResult(
        status_endpoint=status_endpoint, status_rps=status_rps, status_requests=status_count,
        jobs_path=jobs_path, jobs_per_s=jobs_rps, jobs_posted=jobs_count,
        event_ms_p50=percentile(local, 0.50), event_ms_p95=percentile(local, 0.95), event_samples=len(local),
        remote_event_ms_p50=percentile(remote, 0.50), remote_event_ms_p95=percentile(remote, 0.95),
        remote_samples=len(remote), clients=plan.clients,
    )

