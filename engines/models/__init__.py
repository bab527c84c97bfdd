"""The model catalog, the on-disk store of model files, and their hash-checked downloader.

Public API: ModelSpec, ModelStatus, ModelStore (plus ROLES and load_catalog for tools).
"""

from .catalog import ROLES, ArchiveSpec, ModelSpec, load_catalog
from .store import ModelStatus, ModelStore

__all__ = ["ROLES", "ArchiveSpec", "ModelSpec", "ModelStatus", "ModelStore", "load_catalog"]
