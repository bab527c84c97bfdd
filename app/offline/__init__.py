"""Offline swaps: a job's sources and targets through the engine into tagged output files.

This package's own import is light; the runner (engine, onnxruntime, video I/O) loads on demand.
"""

from __future__ import annotations

import importlib

from app.jobs.worker import RunnerFactory, RunnerUnavailable


def load_runner_factory() -> RunnerFactory:
    """The real RunnerFactory the front ends pass to LocalExecutor (`swapcast worker`, `swapcast
    swap`, the studio's queue). Imported here, on demand, so the queue (`jobs add`) works without the
    engine; a runner that cannot load is one line with its fix. Looked up at each call, so tests
    replace `app.offline.runner.runner_factory`."""
    try:
        runner = importlib.import_module("app.offline.runner")  # through sys.modules, as a test hides it
    except ModuleNotFoundError as error:
        if error.name == "app.offline.runner":
            raise RunnerUnavailable(
                "the offline swap runner (app.offline.runner) is not part of this build",
                "jobs can still be queued with `swapcast jobs add`; run them with a build that has it",
            ) from error
        raise RunnerUnavailable(f"the offline swap runner cannot load: {error}", "run `swapcast doctor`") from error
    except ImportError as error:
        raise RunnerUnavailable(f"the offline swap runner cannot load: {error}", "run `swapcast doctor`") from error
    factory: RunnerFactory = runner.runner_factory
    return factory
