"""The built-in engine as the manager sees it: an in-process engine with a load profile.

Offline targets are run by the app (it owns video I/O and the loaded-engine cache) through an
InProcessHost; live mode asks for a frame-level engine with `create_engine()`. A profile (the
CPU-friendly "lite" one) only changes LoadOptions: detector size, enhancer, threads, providers.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from engines.base import LoadOptions

from .base import Availability, EngineAdapter, InProcessHost, ProgressCallback, SwapRequest, SwapResult
from .errors import EngineUnavailable

if TYPE_CHECKING:
    from engines.builtin.engine import BuiltinEngine


def tuned_threads() -> int:
    """Threads for the lite profile: the small models stop scaling at about 4 threads, and video
    decoding/encoding run on other threads beside them, so more would only contend."""
    return max(1, min(4, os.cpu_count() or 1))


class InProcessAdapter(EngineAdapter):
    def load_options(self, base: LoadOptions) -> LoadOptions:
        """`base` (models folder, caches) with this engine's profile applied."""
        profile = self.config.profile
        if profile is None:
            return base
        changes: dict[str, object] = {}
        if profile.det_size is not None:
            changes["det_size"] = profile.det_size
        if profile.det_threshold is not None:
            changes["det_threshold"] = profile.det_threshold
        if profile.load_enhancer is not None:
            changes["load_enhancer"] = profile.load_enhancer
        if not profile.allow_enhance:
            changes["load_enhancer"] = False
        if profile.threads == "auto":
            changes["threads"] = tuned_threads()
        elif isinstance(profile.threads, int):
            changes["threads"] = profile.threads
        if profile.providers is not None:
            changes["providers"] = profile.providers
        if profile.swapper_precision is not None:
            changes["swapper_precision"] = profile.swapper_precision
        if profile.models:
            changes["preferred_models"] = profile.models
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    @property
    def allows_enhance(self) -> bool:
        return self.config.profile is None or self.config.profile.allow_enhance

    def check(self) -> Availability:
        try:
            import onnxruntime
        except ImportError as error:
            return Availability.no(f"onnxruntime cannot be imported ({error})", None)
        note = "loads on first use"
        profile = self.config.profile
        if profile is not None and profile.providers:
            available = {p.lower().removesuffix("executionprovider") for p in onnxruntime.get_available_providers()}
            missing = [p for p in profile.providers if p != "auto" and p.lower() not in available]
            if missing:
                note = f"{', '.join(missing)} not available in this onnxruntime build: runs on the CPU"
        return Availability(True, note, f"onnxruntime {onnxruntime.__version__}")

    def run(self, request: SwapRequest, progress: ProgressCallback, host: InProcessHost | None = None) -> SwapResult:
        if host is None:
            raise EngineUnavailable(f"{self.name} runs inside SwapCast: it needs the app's offline runner")
        return host.run_in_process(self, request, progress)

    def create_engine(self) -> BuiltinEngine:
        """A new, unloaded built-in engine; load it with load_options(base). (Imported here: onnxruntime is heavy.)"""
        from engines.builtin.engine import BuiltinEngine

        return BuiltinEngine()
