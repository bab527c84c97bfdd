"""Joining or starting Ray. `import ray` happens here only, so the default install (no Ray) loads app.cluster.

No address: a local Ray on this machine (its CPUs and GPUs, no dashboard, quiet logs), or the cluster
RAY_ADDRESS names. `auto`, `ray://HOST:10001` or `HOST:6379` join an existing cluster. An address that
does not answer is one line naming it, before anything is claimed.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import urlsplit

from .errors import ray_missing, unreachable

LOCAL = "local"  # how the embedded instance is named in messages and the GUI's settings
PROBE_TIMEOUT_S = 5.0


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as error:
        raise ray_missing() from error
    return ray


@dataclass(frozen=True)
class ClusterInfo:
    """Where jobs will run: the address joined (or LOCAL) and what the cluster offers."""

    address: str
    cpus: float
    gpus: float
    started_here: bool  # a local instance started by this call (it stops with us)
    owned: bool = True  # this call connected (an already connected process, e.g. a test, keeps its Ray)

    def describe(self) -> str:
        if self.started_here:
            where = "a local Ray instance"
        elif self.address == LOCAL:
            where = "the Ray instance this process already runs"
        else:
            where = f"the Ray cluster at {self.address}"
        return f"{where}: {self.cpus:g} CPUs, {self.gpus:g} GPUs"


def resolve_address(address: str | None) -> str | None:
    """The address to join: the one given, else RAY_ADDRESS, else None (start one here)."""
    if address and address != LOCAL:
        return address
    return os.environ.get("RAY_ADDRESS") or None


def connect(address: str | None = None, *, num_cpus: int | None = None) -> ClusterInfo:
    """Join the cluster (or start a local one). Raises ClusterUnavailable with one line."""
    ray = import_ray()
    target = resolve_address(address)
    if ray.is_initialized():
        return _info(ray, target or LOCAL, started_here=False, owned=False)
    if target is not None and target != "auto":
        _probe(target)  # Ray itself retries a dead address for a minute or more
    options: dict[str, object] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                                  "configure_logging": True}
    try:
        if target is None:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
        else:
            options.pop("include_dashboard")  # a joined cluster's dashboard is its own
            ray.init(address=target, **options)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as error:
        raise unreachable(target or LOCAL, _first_line(error)) from error
    return _info(ray, target or LOCAL, started_here=target is None)


def disconnect(info: ClusterInfo) -> None:
    ray = import_ray()
    if info.owned and ray.is_initialized():
        ray.shutdown()  # a joined cluster keeps running; a local one stops with us


def _info(ray: ModuleType, address: str, *, started_here: bool, owned: bool = True) -> ClusterInfo:
    resources = ray.cluster_resources()
    return ClusterInfo(address, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)), started_here, owned)


def _probe(address: str) -> None:
    """A TCP connect to HOST:PORT, so an unreachable cluster is said in seconds."""
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname, parts.port
    if not host or not port:
        raise unreachable(address, "expected auto, ray://HOST:PORT or HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as error:
        raise unreachable(address, error.strerror or type(error).__name__) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
