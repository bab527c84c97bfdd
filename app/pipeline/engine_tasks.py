"""What the session asks of the engine besides frames: recognise source photos, load the enhancer.
Both take seconds with real models, so they run at start-up or as side tasks, never per frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engines.base import Engine, Identity
from engines.errors import InputError, SwapCastError


def recognise(engine: Engine, groups: Sequence[Sequence[Path]]) -> tuple[Identity, ...]:
    """One identity per group of photos of the same person."""
    build = getattr(engine, "identity", None)
    if build is None:
        raise InputError(f"the {engine.name} engine cannot recognise source photos", "use the built-in engine")
    identities = []
    for group in groups:
        for path in group:
            if not Path(path).is_file():
                raise InputError(f"source photo {path} not found", "check the path")
        identities.append(build(list(group)))
    return tuple(identities)


def load_enhancer(engine: Engine) -> None:
    ensure = getattr(engine, "ensure_enhancer", None)
    if ensure is not None:
        ensure()


def load_lip_syncer(engine: Engine) -> None:
    """Load the lip-sync model now rather than on the first frame that asks for it (a stall live)."""
    ensure = getattr(engine, "ensure_lip_syncer", None)
    if ensure is not None:
        ensure()


def one_line(error: BaseException) -> str:
    return error.one_line() if isinstance(error, SwapCastError) else f"{type(error).__name__}: {error}"
