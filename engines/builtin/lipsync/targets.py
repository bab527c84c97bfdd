"""Which faces of a frame get lip-synced: the same ones the swap selects, by the one face-selection
policy, even when no source identity is set (lip sync only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from engines.base import Identity, SwapContext

from ..detect.faces import DetectedFace
from ..detect.selection import select

# Stands in for the source identity when only the mouth is driven: select() then picks the faces
# by position/size/reference exactly as it would for a swap.
_ANY_SOURCE = Identity("lip-sync", np.zeros(512, np.float32))


def lip_sync_targets(faces: Sequence[DetectedFace], context: SwapContext) -> list[DetectedFace]:
    if context.active_identity is None:
        context = dataclasses.replace(context, identities=[_ANY_SOURCE], active=0)
    return [face for face, _ in select(faces, context)]
