"""A job's options → the engine's SwapContext (identities, face selection)."""

from __future__ import annotations

from pathlib import Path

from engines.base import FaceSelection, SwapContext
from engines.builtin.engine import BuiltinEngine

from app.jobs.model import JobSpec

SELECTIONS = {"largest": FaceSelection.LARGEST, "all": FaceSelection.ALL, "reference": FaceSelection.REFERENCE}


def build_context(engine: BuiltinEngine, spec: JobSpec, warnings: list[str]) -> SwapContext:
    identity = engine.identity([Path(s) for s in spec.sources], face_index=spec.source_face)
    for source, count in zip(spec.sources, identity.faces_in_sources):
        if count > 1 and spec.source_face is None:
            warnings.append(f"{Path(source).name}: {count} faces found, used the largest "
                            "(pick another with --source-face N)")
    context = SwapContext(identities=[identity], selection=SELECTIONS.get(spec.faces, FaceSelection.LARGEST),
                          enhance=spec.enhance, enhance_blend=spec.enhance_blend, smoothing=True,
                          on_error="raise", in_place=True)
    if context.selection == FaceSelection.REFERENCE and spec.reference:
        context.references = [engine.identity([Path(spec.reference)])]
    return context
