"""Engines other than the built-in one, and what every engine adapter shares.

Public API: load_integrations / IntegrationsConfig / EngineConfig / Mode / Transport / MemoryStrategy
(the settings), SwapRequest / SwapResult / Availability / EngineAdapter / InProcessRuntime (the adapter
contract), the adapters (InProcessAdapter, FaceFusionCliAdapter, FaceFusionHttpAdapter,
DeepLiveCamAdapter, IRoopAdapter, ComfyUIAdapter) and the errors (SourceError, EngineUnavailable, EngineFailure, EngineTimeout,
IntegrationConfigError). The manager that ties them together is engines.manager.

The names load on first use (PEP 562): reading the settings (`engines.external.config`, as `swapcast
jobs add` does) must not import every adapter and their HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "base": ("Availability", "EngineAdapter", "ProgressCallback", "SwapRequest", "SwapResult"),
    "config": ("EngineConfig", "IntegrationsConfig", "MemoryStrategy", "Mode", "Transport",
               "default_integrations_path", "load_integrations"),
    "comfyui.adapter": ("ComfyUIAdapter",),
    "deep_live_cam": ("DeepLiveCamAdapter",),
    "errors": ("EngineFailure", "EngineTimeout", "EngineUnavailable", "IntegrationConfigError", "SourceError"),
    "facefusion_cli": ("FaceFusionCliAdapter",),
    "facefusion_http": ("FaceFusionHttpAdapter",),
    "inprocess": ("InProcessAdapter", "InProcessRuntime", "VideoOutcome"),
    "iroop": ("IRoopAdapter",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

