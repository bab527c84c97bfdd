"""The one path from an avatar session to the engine: the loaded built-in engine with its lip syncer,
borrowed from app.engine_host (loaded once per process and shared by every session), driven through
`Engine.process` with a per-frame `LipSyncFrame` — the same call the offline and live paths make."""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from engines.base import LipSyncFrame, SwapContext

Frame = np.ndarray
ENGINE_OWNER = "builtin"


class Renderer(Protocol):
    def faces_in(self, frame: Frame) -> int:
        """How many faces the engine finds in `frame` (a session needs one to animate)."""

    def render(self, frame: Frame, mel: np.ndarray, weight: float, state: dict[str, object], t: float) -> Frame:
        """`frame` (shown at `t` s) with its mouth driven by the (80, 16) mel window; `state`: the session's
        stream state (the mouth box's smoothing, kept across its streams)."""


class EngineRenderer:
    def __init__(self, engine: object) -> None:
        self.engine = engine

    def faces_in(self, frame: Frame) -> int:
        return len(self.engine.faces(frame))  # type: ignore[attr-defined]

    def render(self, frame: Frame, mel: np.ndarray, weight: float, state: dict[str, object], t: float) -> Frame:
        context = SwapContext(swap_faces=False, lip_sync=LipSyncFrame(mel=mel, weight=weight), timestamp=t,
                              stream_state=state)
        return self.engine.process(frame, context)  # type: ignore[attr-defined]


def load_renderer() -> Renderer:
    """The process's lip-sync engine (the models folder: SWAPCAST_MODELS / the catalog), loaded on first use."""
    from app.engine_host.cache import base_options, shared_engine

    # Lip sync only: the detector and the lip syncer (no recognizer, no swapper), loaded up front.
    options = dataclasses.replace(base_options(None), load_lip_syncer=True, load_swapper=False)
    return EngineRenderer(shared_engine(None, options, owner=ENGINE_OWNER))
