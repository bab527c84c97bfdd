"""Which detected faces to swap, and with which identity."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engines.base import FaceSelection, Identity, SwapContext

from .faces import DetectedFace

Embedder = Callable[[Sequence[DetectedFace]], None]  # fills .embedding on the faces it is given


def needs_embeddings(context: SwapContext) -> bool:
    return context.selection in (FaceSelection.REFERENCE, FaceSelection.MAPPING)


def select(faces: Sequence[DetectedFace], context: SwapContext) -> list[tuple[DetectedFace, Identity]]:
    """Pairs (target face, identity to swap in). Embeddings must be filled for reference/mapping."""
    source = context.active_identity
    if not faces:
        return []
    mode = context.selection
    if mode == FaceSelection.MAPPING:
        return _mapped(faces, context)
    if source is None:
        return []
    if mode == FaceSelection.ALL:
        return [(face, source) for face in faces]
    if mode == FaceSelection.POSITION:
        ordered = sorted(faces, key=lambda f: f.center_x)
        index = context.position
        return [(ordered[index], source)] if 0 <= index < len(ordered) else []
    if mode == FaceSelection.REFERENCE:
        refs = [r.embedding for r in context.references]
        return [(face, source) for face in faces
                if refs and _best(face, refs)[1] >= context.reference_threshold]
    return [(max(faces, key=lambda f: f.area), source)]


def _best(face: DetectedFace, embeddings: Sequence[np.ndarray]) -> tuple[int, float]:
    if face.embedding is None:
        return -1, -1.0
    sims = [float(np.dot(face.embedding, e)) for e in embeddings]
    best = int(np.argmax(sims))
    return best, sims[best]


def _mapped(faces: Sequence[DetectedFace], context: SwapContext) -> list[tuple[DetectedFace, Identity]]:
    refs = [m.reference.embedding for m in context.mappings]
    pairs = []
    for face in faces:
        index, similarity = _best(face, refs) if refs else (-1, -1.0)
        if index >= 0 and similarity >= context.reference_threshold:
            pairs.append((face, context.mappings[index].source))
    return pairs
