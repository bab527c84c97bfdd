"""The live pipeline: capture → engine → outputs (virtual camera, stream, recording, preview).

`api` is the interface the CLI and the GUI use; `LiveSession` implements it.
"""

from .api import LiveConfig, LiveControls, LiveStats, OutputStatus, PreviewListener, SessionState
from .session import LiveSession

__all__ = ["LiveConfig", "LiveControls", "LiveSession", "LiveStats", "OutputStatus", "PreviewListener", "SessionState"]
