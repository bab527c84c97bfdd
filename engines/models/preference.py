"""Which model a load uses for a role when a profile prefers one (the lite profile's small models).

A profile's preference is used where the models folder can serve it: the catalog (or manifest)
lists it and its file is there. Otherwise the role's default runs, and a log line says why, so a
lite engine still works for a user who only downloaded the default models, and with a test kit.
A preferred file that is present but fails its hash check is still chosen: loading it then fails
with the store's one-line error instead of silently running another model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from .catalog import ModelSpec

log = logging.getLogger(__name__)


class SpecSource(Protocol):
    """What this needs of a ModelStore."""

    def specs(self) -> list[ModelSpec]: ...

    def default_for(self, role: str) -> ModelSpec: ...

    def path(self, model_id: str) -> Path: ...


def preferred_model(store: SpecSource, role: str, preferences: Sequence[tuple[str, str]] = ()) -> str:
    """The id to load for `role`: the preferred one where the store lists it with its file present,
    else the role's default."""
    default = store.default_for(role).id
    wanted = [model_id for preferred_role, model_id in preferences if preferred_role == role]
    if not wanted:
        return default
    model_id = wanted[0]
    listed = {spec.id: spec for spec in store.specs()}
    spec = listed.get(model_id)
    if spec is None:
        log.info("%s %s is not in this models list: using the default %s", role, model_id, default)
        return default
    if spec.role != role:
        log.warning("%s is a %s, not a %s: using the default %s", model_id, spec.role, role, default)
        return default
    if not store.path(model_id).is_file():
        log.warning("%s %s is not downloaded (swapcast models download %s): using the default %s",
                    role, model_id, model_id, default)
        return default
    return model_id
