"""The swap actors of one executor, and how tasks reach them.

ActorPool holds the long-lived actors and hands out an idle one at a time: one task per actor, so no
actor swaps two things at once and a free actor takes the next task (no queue stuck behind a slow
one). Dispatch runs one job's tasks over the pool from the worker's thread: it submits, relays the
actors' frame counts, resubmits a task whose actor died (Ray restarts the actor), and on a cancel
tells the actors to stop and waits for them before handing them back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import TransientError

from .actors import SwapActor
from .connect import ClusterInfo, import_ray
from .progress import TaskProgress
from .stages import StageTimes
from .tasks import SwapTask, TaskOutcome

_log = logging.getLogger(__name__)

POLL_S = 0.25
ACTOR_RESTARTS = 4  # Ray restarts a dead actor (a killed process, a lost node) this often
TASK_TRIES = 3  # a task whose actor dies this many times fails the job (transient: the queue retries later)
STOP_WAIT_S = 30.0  # how long a cancelled task may take to notice
RESTART_WAIT_S = 60.0  # how long a died actor may take to come back (Ray restarts it, maybe on another node)
RESTART_POLL_S = 0.5  # how often a restarting actor is asked whether it is back


@dataclass(frozen=True)
class ActorPlan:
    count: int
    num_cpus: float
    num_gpus: float

    def describe(self) -> str:
        each = f"{self.num_gpus:g} GPU" if self.num_gpus else f"{self.num_cpus:g} CPU"
        return f"{self.count} swap actor{'s' if self.count != 1 else ''} ({each} each)"


def plan_actors(info: ClusterInfo, requested: int | None, per_gpu: int = 1) -> ActorPlan:
    """One actor per GPU (`per_gpu` where VRAM allows more), else `requested` CPU actors sharing the CPUs."""
    if info.gpus >= 1 and not requested:
        per_gpu = max(1, per_gpu)
        return ActorPlan(int(info.gpus) * per_gpu, 0.0, 1.0 / per_gpu)
    count = requested or max(1, int(info.cpus))
    if info.gpus >= 1:
        return ActorPlan(count, 0.0, max(0.01, info.gpus / count) if count > info.gpus else 1.0)
    # Fractional CPUs, so N actors start even on a cluster with fewer CPUs (they then share them).
    return ActorPlan(count, min(1.0, max(0.01, math.floor(info.cpus / count * 100) / 100)), 0.0)


class ActorPool:
    def __init__(self, plan: ActorPlan) -> None:
        ray = import_ray()
        remote = ray.remote(SwapActor).options(
            num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_concurrency=2,  # swap + progress/cancel
            max_restarts=ACTOR_RESTARTS, max_task_retries=0,  # a died task is resubmitted by Dispatch
        )
        self.plan = plan
        self.actors: list[Any] = [remote.remote() for _ in range(plan.count)]
        self._idle: deque[Any] = deque(self.actors)
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> Any | None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._idle), timeout):
                return None
            return self._idle.popleft()

    def release(self, actor: Any) -> None:
        with self._cond:
            if actor in self.actors:
                self._idle.append(actor)
                self._cond.notify()

    def retire(self, actor: Any) -> None:
        """An actor that no longer answers: out of the pool for good."""
        with self._cond:
            if actor in self.actors:
                self.actors.remove(actor)
        import_ray().kill(actor, no_restart=True)
        if not self.actors:
            raise TransientError("no swap actor is left on the Ray cluster", "check the cluster's nodes, then retry the job")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Every actor constructed (so a first job's fps does not include starting processes)."""
        ray = import_ray()
        ray.get([actor.pid.remote() for actor in self.actors], timeout=timeout)

    def shutdown(self) -> None:
        ray = import_ray()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors.clear()


@dataclass
class _Flight:
    task: SwapTask
    target_ref: Any  # kept so a resubmitted task does not put its bytes again
    actor: Any
    started: float


OnOutcome = Callable[[TaskOutcome, float], None]
"""Called on the worker's thread with each finished task's outcome and its wall time on the submitter."""

Tick = Callable[[], None]
"""Called at every poll (relays progress to the queue; raises JobInterrupted to stop)."""


class Dispatch:
    """One job's tasks over the pool. run() returns when every task ended or a callback raised."""

    def __init__(self, pool: ActorPool, inputs_ref: Any, progress: TaskProgress, stages: StageTimes) -> None:
        self._ray = import_ray()
        self._pool = pool
        self._inputs = inputs_ref
        self._progress = progress
        self._stages = stages
        # A task's target is a file here, or its ref once put: bytes enter the object store only when
        # an actor is free for them, so a long video is never all in memory at once.
        self._pending: deque[tuple[SwapTask, Path | Any]] = deque()
        self._flights: dict[Any, _Flight] = {}
        self._tries: dict[str, int] = {}

    def add(self, task: SwapTask, target: Path) -> None:
        self._pending.append((task, target))

    def drop(self, predicate: Callable[[SwapTask], bool]) -> None:
        """Forget pending tasks (their target failed); running ones are cancelled."""
        self._pending = deque((task, ref) for task, ref in self._pending if not predicate(task))
        for flight in self._flights.values():
            if predicate(flight.task):
                flight.actor.cancel.remote(flight.task.key)

    def run(self, on_outcome: OnOutcome, tick: Tick) -> None:
        try:
            while self._pending or self._flights:
                self._submit_what_fits()
                ready, _ = self._ray.wait(list(self._flights), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    self._settle(ref, on_outcome)
                self._poll_progress()
                tick()
        finally:
            self._stop_flights()

    def _submit_what_fits(self) -> None:
        while self._pending:
            # Wait a little for an actor only when none of ours runs (else poll our own first).
            actor = self._pool.acquire(0.0 if self._flights else POLL_S)
            if actor is None:
                return
            task, target = self._pending.popleft()
            target_ref = self._put(target) if isinstance(target, Path) else target
            self._tries[task.key] = self._tries.get(task.key, 0) + 1
            ref = actor.swap.remote(task, self._inputs, target_ref)
            self._flights[ref] = _Flight(task, target_ref, actor, time.perf_counter())

    def _put(self, path: Path) -> Any:
        started = time.perf_counter()
        ref = self._ray.put(path.read_bytes())
        self._stages.add(put_s=time.perf_counter() - started)
        return ref

    def _settle(self, ref: Any, on_outcome: OnOutcome) -> None:
        flight = self._flights.pop(ref)
        try:
            outcome: TaskOutcome = self._ray.get(ref)
        except self._ray.exceptions.RayActorError as error:
            # Ray restarts the actor; the task goes to whichever actor is free. One that does not come
            # back (restarts used up, no node can take it) leaves the pool rather than fail every task.
            if self._restarted(flight.actor):
                self._pool.release(flight.actor)
            else:
                self._pool.retire(flight.actor)  # TransientError once no actor is left
            self._resubmit(flight, error)
            return
        self._pool.release(flight.actor)
        on_outcome(outcome, time.perf_counter() - flight.started)

    def _restarted(self, actor: Any) -> bool:
        """Whether a died actor is back within RESTART_WAIT_S. While Ray restarts it, a call fails with
        ActorUnavailableError ("temporarily unavailable"): asked again until the deadline, not taken
        for dead — under load a restart (a new process loading the models) takes a while."""
        deadline = time.monotonic() + RESTART_WAIT_S
        while True:
            left = deadline - time.monotonic()
            try:
                self._ray.get(actor.pid.remote(), timeout=max(left, 0.0))
                return True
            except self._ray.exceptions.ActorUnavailableError:
                if left <= 0:
                    break
                time.sleep(min(RESTART_POLL_S, max(left, 0.0)))
            except self._ray.exceptions.RayActorError:
                _log.warning("a swap actor did not come back (its restarts are used up); the pool goes on without it")
                return False
            except self._ray.exceptions.GetTimeoutError:
                break
        _log.warning("a swap actor did not come back within %g s; the pool goes on without it", RESTART_WAIT_S)
        return False

    def _resubmit(self, flight: _Flight, error: BaseException) -> None:
        key = flight.task.key
        if self._tries.get(key, 0) >= TASK_TRIES:
            raise TransientError(f"task {key}: its actor died {TASK_TRIES} times ({type(error).__name__})",
                                 "check the cluster's memory and logs; the job is retried later")
        _log.warning("task %s: its actor died (%s); running it again", key, type(error).__name__)
        self._progress.restart(key)
        self._pending.appendleft((flight.task, flight.target_ref))

    def _poll_progress(self) -> None:
        if not self._flights:
            return
        flights = list(self._flights.values())
        asks = [flight.actor.progress.remote() for flight in flights]
        ready, _ = self._ray.wait(asks, num_returns=len(asks), timeout=POLL_S)
        ready_set = set(ready)
        for flight, ask in zip(flights, asks):
            if ask not in ready_set:
                continue
            try:
                counts = self._ray.get(ask)
            except self._ray.exceptions.RayError:
                continue  # a dying actor: its task's ref tells
            if flight.task.key in counts:
                self._progress.update(flight.task.key, *counts[flight.task.key])

    def _stop_flights(self) -> None:
        """Cancel what still runs (a cancel, a failed target, a stopping worker), wait, hand actors back."""
        if not self._flights:
            return
        for flight in self._flights.values():
            flight.actor.cancel.remote(flight.task.key)
        refs = list(self._flights)
        ready, late = self._ray.wait(refs, num_returns=len(refs), timeout=STOP_WAIT_S)
        for ref in ready:
            self._pool.release(self._flights.pop(ref).actor)
        for ref in late:  # stuck in one long step: do not hand out an actor that is still busy
            try:
                self._pool.retire(self._flights.pop(ref).actor)
            except TransientError:
                pass
        self._pending.clear()
