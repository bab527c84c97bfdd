"""RayExecutor: the queue served here, the frames swapped on Ray actors.

It is LocalExecutor (the same Worker loop: claims, leases, heartbeats, final states in this machine's
SQLite queue) whose workers get a RayJobRunner sharing one pool of swap actors. As many workers as
actors, so a batch of jobs keeps every actor busy, while one long video's segments spread over all of
them. Connecting happens in the constructor: a missing Ray or a dead address is one line before any
job is claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.jobs.executor import LocalExecutor
from app.jobs.model import Job
from app.jobs.store import JobStore

from .connect import ClusterInfo, connect, disconnect
from .pool import ActorPlan, ActorPool, plan_actors
from .segment_job import DEFAULT_SEGMENT_S, RayJobRunner
from .stages import StageTimes

_log = logging.getLogger(__name__)


def actors_per_gpu(models: str | None = None) -> int:
    """How many engines fit in one GPU's memory (the allocator's estimate for the default profile);
    1 when this machine has no GPU or the models are not here to measure."""
    from app.engine_host import cache
    from app.monitor.gpu import read_gpus

    try:
        gpus = read_gpus().gpus
        if not gpus:
            return 1
        from engines.models.store import ModelStore

        options = cache.base_options(models)
        allocator = cache.shared_allocator()
        store = ModelStore.resolve(options.models_dir, options.models_override)
        need = sum(f.bytes for f in allocator.plan(store, options) if f.on_gpu)
    except Exception:  # noqa: BLE001 — an estimate: one actor per GPU is always safe
        _log.debug("no actors-per-GPU estimate", exc_info=True)
        return 1
    return max(1, int((gpus[0].memory_total - allocator.reserve_bytes) // max(1, need + allocator.reserve_bytes)))


class RayExecutor:
    def __init__(
        self,
        store: JobStore,
        *,
        address: str | None = None,
        actors: int | None = None,
        segment_seconds: float = DEFAULT_SEGMENT_S,
        workers: int | None = None,
        poll_s: float = 0.5,
        lease_s: float = 30.0,
        stages: StageTimes | None = None,
    ) -> None:
        self.info: ClusterInfo = connect(address)  # ClusterUnavailable: one line, nothing claimed
        try:
            per_gpu = actors_per_gpu() if self.info.gpus >= 1 and not actors else 1
            self.plan: ActorPlan = plan_actors(self.info, actors, per_gpu)
            self.pool = ActorPool(self.plan)
        except BaseException:
            disconnect(self.info)
            raise
        self.stages = stages or StageTimes()
        self._local = LocalExecutor(
            store, lambda: RayJobRunner(self.pool, segment_seconds, self.stages),
            workers=workers or self.plan.count, poll_s=poll_s, lease_s=lease_s,
        )

    def describe(self) -> str:
        return f"{self.info.describe()}; {self.plan.describe()}"

    def start(self, *, forever: bool = False, job_ids: Sequence[int] | None = None) -> None:
        self._local.start(forever=forever, job_ids=job_ids)

    def stop(self) -> None:
        self._local.stop()

    def join(self, timeout: float | None = None) -> bool:
        return self._local.join(timeout)

    @property
    def finished(self) -> list[Job]:
        return self._local.finished

    def close(self) -> None:
        """The actors go; a local Ray stops with us, a joined cluster keeps running."""
        try:
            self.pool.shutdown()
        finally:
            disconnect(self.info)

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
