"""ModelStore: which models exist, where their files live, whether those files can be trusted.

Two sources of truth share one API:
- the catalog (resources/models.json): real models, downloaded into the user's models folder;
- a manifest (`--models DIR` / SWAPCAST_MODELS): DIR/manifest.json lists files inside DIR, such as
  the generated test-model kit, checked against the manifest's own hashes.

A file that fails its hash is never handed out: `require` raises instead. `open_verified` hands out
the bytes it hashed, so a file replaced after the check is never what onnxruntime runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.errors import ModelError
from engines.resources import resources_dir

from . import catalog as catalog_module
from .catalog import ModelSpec, load_catalog
from .download import DEFAULT_TIMEOUT_S, Progress, download_model
from .hashing import CACHE_TRUSTED_FOR_LOAD, cached_sha256, read_with_sha256, record_first_sha256, recorded_sha256

MANIFEST_NAME = "manifest.json"
# A protobuf message (an ONNX model held in memory) cannot exceed 2 GiB; a larger model (external
# data) is checked and then opened by path.
IN_MEMORY_LIMIT = 2**31 - 1
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    path: Path
    present: bool
    verified: bool
    problem: str | None  # one line, set whenever verified is False
    sha256: str | None = None  # the file's actual hash, when it was computed
    note: str | None = None  # a warning that does not stop use (e.g. hash recorded on first use)


@dataclass(frozen=True)
class VerifiedModel:
    """A model as its hash check saw it: `data` holds the very bytes that were hashed, for
    onnxruntime to parse (None only past IN_MEMORY_LIMIT, where the file is opened by `path`)."""

    path: Path
    sha256: str
    data: bytes | None

    @property
    def source(self) -> bytes | str:
        """What onnxruntime.InferenceSession (and onnx.load) should be given."""
        return self.data if self.data is not None else str(self.path)


def default_catalog_path() -> Path:
    return resources_dir() / "models.json"


class ModelStore:
    def __init__(
        self,
        directory: Path,
        specs: list[ModelSpec],
        *,
        source: Path,
        from_manifest: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.source = source  # the catalog or manifest file the specs came from
        self.from_manifest = from_manifest
        self.timeout = timeout
        self._warn = warn or _log.warning
        self._specs = list(specs)
        self._by_id = {spec.id: spec for spec in self._specs}

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_catalog(
        cls,
        models_dir: Path,
        catalog: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        warn: Callable[[str], None] | None = None,
    ) -> "ModelStore":
        path = catalog if catalog is not None else default_catalog_path()
        return cls(Path(models_dir), load_catalog(path), source=path, timeout=timeout, warn=warn)

    @classmethod
    def from_manifest(
        cls,
        directory: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        warn: Callable[[str], None] | None = None,
    ) -> "ModelStore":
        directory = Path(directory).expanduser().resolve()  # messages must name a findable folder
        manifest = directory / MANIFEST_NAME
        if not directory.is_dir():
            raise ModelError(
                f"models folder {directory} does not exist",
                "create one with `swapcast models kit DIR`, or drop --models / SWAPCAST_MODELS",
            )
        if not manifest.is_file():
            raise ModelError(
                f"{directory} has no {MANIFEST_NAME}",
                "point --models (or SWAPCAST_MODELS) at a folder written by `swapcast models kit DIR`",
            )
        specs = load_catalog(manifest)
        return cls(directory, specs, source=manifest, from_manifest=True, timeout=timeout, warn=warn)

    @classmethod
    def resolve(
        cls,
        models_dir: Path,
        override: Path | None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        warn: Callable[[str], None] | None = None,
    ) -> "ModelStore":
        """`override` (from --models / SWAPCAST_MODELS) wins over the catalog in `models_dir`."""
        if override is not None:
            return cls.from_manifest(override, timeout=timeout, warn=warn)
        return cls.from_catalog(models_dir, timeout=timeout, warn=warn)

    # --- lookup -------------------------------------------------------------------------------

    def specs(self) -> list[ModelSpec]:
        return list(self._specs)

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self._by_id[model_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise ModelError(f"unknown model {model_id!r} (known: {known})", "see `swapcast models list`") from None

    def default_for(self, role: str) -> ModelSpec:
        if role not in catalog_module.ROLES:
            raise ModelError(f"unknown model role {role!r} (roles: {', '.join(catalog_module.ROLES)})")
        spec = catalog_module.default_for(self._specs, role)
        if spec is None:
            raise ModelError(f"{self.source} lists no {role} model")
        return spec

    def path(self, model_id: str) -> Path:
        return self.directory / self.spec(model_id).file

    def hash_policy(self, model_id: str) -> str:
        """How the file's sha256 is known, in words for `swapcast models list` and the studio."""
        spec = self.spec(model_id)
        if spec.pinned:
            return "sha256 pinned by the " + ("manifest" if self.from_manifest else "catalog")
        checked = (f", after matching the publisher's {spec.publisher_hash.algorithm} sidecar"
                   if spec.publisher_hash is not None else "")
        recorded = recorded_sha256(self.directory / spec.file)
        found = f": {recorded}" if recorded else "; nothing recorded yet"
        return f"sha256 recorded at first download (not pinned){checked}{found}"

    # --- verification -------------------------------------------------------------------------

    def status(self, model_id: str, *, fresh: bool = False) -> ModelStatus:
        """Is the file there and does it match its hash? `fresh` re-reads it instead of the cache."""
        spec = self.spec(model_id)
        path = self.directory / spec.file
        if not path.is_file():
            return self._missing(spec, path)
        try:
            actual = cached_sha256(path, fresh=fresh)
        except OSError as error:
            return self._unreadable(spec, path, error)
        return self._judge(spec, path, actual)

    def _missing(self, spec: ModelSpec, path: Path) -> ModelStatus:
        return ModelStatus(spec, path, present=False, verified=False, problem=f"{spec.file} is missing from {self.directory}")

    def _unreadable(self, spec: ModelSpec, path: Path, error: OSError) -> ModelStatus:
        return ModelStatus(spec, path, True, False, f"cannot read {path}: {error.strerror or error}")

    def _judge(self, spec: ModelSpec, path: Path, actual: str) -> ModelStatus:
        """The status of a present file whose contents hash to `actual`."""
        expected = spec.sha256 or recorded_sha256(path)
        if expected is None:
            # Placed by hand with no published hash: trust this copy and pin it from now on.
            record_first_sha256(path, actual)
            note = f"{spec.id}: no published sha256; recorded {actual} of the copy found in {self.directory}"
            self._warn(note)
            return ModelStatus(spec, path, True, True, None, sha256=actual, note=note)
        if actual != expected:
            which = ("manifest's" if self.from_manifest else "catalog's") if spec.sha256 else "recorded"
            return ModelStatus(
                spec, path, True, False,
                f"{path} fails its hash check (expected {which} sha256 {expected}, got {actual})",
                sha256=actual,
            )
        return ModelStatus(spec, path, True, True, None, sha256=actual)

    def require(self, model_id: str) -> Path:
        """The verified file of `model_id`, or a ModelError that says how to get a good one. This is
        the gate before onnxruntime: a file whose hash does not match never gets past it."""
        return self._verified(self.status(model_id, fresh=not CACHE_TRUSTED_FOR_LOAD)).path

    def open_verified(self, model_id: str) -> VerifiedModel:
        """Like require(), but read once: the bytes hashed are the bytes returned, so a file replaced
        or rewritten after the check never reaches onnxruntime (the gap between checking a path and
        opening it). The same ModelErrors as require()."""
        spec = self.spec(model_id)
        path = self.directory / spec.file
        if not path.is_file():
            raise self._error(self._missing(spec, path))
        try:
            read = read_with_sha256(path, IN_MEMORY_LIMIT)
        except OSError as error:
            raise self._error(self._unreadable(spec, path, error)) from error
        if read is None:  # too large to hold in memory: checked, then opened by path
            status = self._verified(self.status(model_id, fresh=not CACHE_TRUSTED_FOR_LOAD))
            return VerifiedModel(path, status.sha256 or "", None)
        data, actual = read
        self._verified(self._judge(spec, path, actual))
        return VerifiedModel(path, actual, data)

    def _verified(self, status: ModelStatus) -> ModelStatus:
        """`status` if it is verified; else raises the ModelError that says how to get a good file."""
        if not status.verified:
            raise self._error(status)
        return status

    def _error(self, status: ModelStatus) -> ModelError:
        return ModelError(status.problem or f"{status.path} is not usable", self._fix(status))

    def _fix(self, status: ModelStatus) -> str:
        spec = status.spec
        if self.from_manifest:
            return f"regenerate the folder with `swapcast models kit {self.directory}`, or drop --models / SWAPCAST_MODELS"
        if spec.urls:
            by_hand = f"download {spec.urls[0]} and put it into {self.directory} as {spec.file}"
        elif spec.archive is not None:
            by_hand = f"download {spec.archive.urls[0]} and extract {spec.archive.member} into {self.directory} as {spec.file}"
        else:
            by_hand = f"put {spec.file} into {self.directory}"
        if status.present:
            return f"delete it and run `swapcast models download {spec.id}`, or {by_hand}"
        return f"run `swapcast models download {spec.id}`, or {by_hand}"

    # --- download -----------------------------------------------------------------------------

    def download(self, model_id: str, progress: Progress | None = None) -> Path:
        """Fetch `model_id` unless a verified copy is already there; the verified path."""
        spec = self.spec(model_id)
        status = self.status(model_id)
        if status.verified:
            return status.path
        if self.from_manifest and not spec.all_urls:
            raise ModelError(f"{spec.id} comes from {self.source}, which gives no download URL", self._fix(status))
        return download_model(spec, self.directory, progress=progress, timeout=self.timeout, warn=self._warn).path
