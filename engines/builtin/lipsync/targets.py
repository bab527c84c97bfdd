"""Which faces of a frame get lip-synced: the same ones the swap selects, by the one face-selection
policy, even when no source identity is set (lip sync only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from engines.base import Identity, LipSyncFrame, SwapContext

from ..detect.faces import DetectedFace
from ..detect.selection import select

# Stands in for the source identity when only the mouth is driven: select() then picks the faces
# by position/size/reference exactly as it would for a swap.
_ANY_SOURCE = Identity("lip-sync", np.zeros(512, np.float32))


def lip_sync_targets(faces: Sequence[DetectedFace], context: SwapContext) -> list[DetectedFace]:
    if context.active_identity is None:
        context = dataclasses.replace(context, identities=[_ANY_SOURCE], active=0)
    return [face for face, _ in select(faces, context)]


def lip_sync_asked(context: SwapContext) -> bool:
    return context.lip_sync is not None or context.lip_sync_batch is not None


def lip_sync_frames(context: SwapContext, count: int) -> Sequence[LipSyncFrame] | None:
    """The audio of each of `count` frames: the batch's own list, else the one frame's for all."""
    if context.lip_sync_batch is not None:
        if len(context.lip_sync_batch) != count:
            raise ValueError(f"lip_sync_batch holds {len(context.lip_sync_batch)} mel windows for {count} frames")
        return context.lip_sync_batch
    return None if context.lip_sync is None else [context.lip_sync] * count
