"""Engines other than the built-in one, and what every engine adapter shares.

Public API: load_integrations / IntegrationsConfig / EngineConfig / Mode / Transport / MemoryStrategy
(the settings), SwapRequest / SwapResult / Availability / EngineAdapter / InProcessRuntime (the adapter
contract), the adapters (InProcessAdapter, FaceFusionCliAdapter, FaceFusionHttpAdapter,
DeepLiveCamAdapter) and the errors (SourceError, EngineUnavailable, EngineFailure, EngineTimeout,
IntegrationConfigError). The manager that ties them together is engines.manager.
"""

from .base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult
from .config import (
    EngineConfig, IntegrationsConfig, MemoryStrategy, Mode, Transport, default_integrations_path, load_integrations,
)
from .deep_live_cam import DeepLiveCamAdapter
from .errors import EngineFailure, EngineTimeout, EngineUnavailable, IntegrationConfigError, SourceError
from .facefusion_cli import FaceFusionCliAdapter
from .facefusion_http import FaceFusionHttpAdapter
from .inprocess import InProcessAdapter, InProcessRuntime, VideoOutcome

__all__ = [
    "Availability", "DeepLiveCamAdapter", "EngineAdapter", "EngineConfig", "EngineFailure", "EngineTimeout",
    "EngineUnavailable", "FaceFusionCliAdapter", "FaceFusionHttpAdapter", "InProcessAdapter", "InProcessRuntime",
    "IntegrationConfigError", "IntegrationsConfig", "MemoryStrategy", "Mode", "ProgressCallback", "SourceError",
    "SwapRequest", "SwapResult", "Transport", "VideoOutcome", "default_integrations_path", "load_integrations",
]
