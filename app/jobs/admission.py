"""Can this job ever run? Checked when it is queued (`swapcast jobs add`, `swapcast swap`; no Qt, so
the studio's add-job dialog can call it too), so a job that would only fail later is refused at
once, with the fix.

check_runnable() takes a JobSpec whose paths spec_from_args already made absolute and checked to
exist. It looks at what is cheap and certain: the files' kinds (a video given as the face photo,
a text file as a target), the output's extension against its target's kind, and, when the
built-in engine is the only one that could run the job, that its model files are there. What
only running can tell (a face in the photo, a readable video) stays the runner's to report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import cv2

from engines.errors import InputError, ModelError
from engines.external.config import IntegrationsConfig, Mode
from engines.imaging import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from engines.models.catalog import REQUIRED_ROLES  # what the built-in engine cannot run without

from app.models_option import models_folder
from app.paths import MODELS_ENV, user_paths

from .model import JobSpec, is_remote_text, target_name
from .outputs import TargetPlan, check_format
from .remote import check_object_inputs, check_url_inputs

PHOTO_FIX = "give a photo of the face (.jpg, .png, .webp…)"
LIP_SYNC_ROLE = "lip_syncer"  # the model role a lip-sync job needs besides REQUIRED_ROLES
DETECTOR_ROLE = "detector"  # the one of REQUIRED_ROLES a lip-sync-only job needs


def check_runnable(spec: JobSpec, config: IntegrationsConfig | None = None) -> None:
    """Raise InputError / ModelError, one line naming the problem and the fix, if `spec` can never
    run here. `config`: the engine settings (default: the ones the worker would load)."""
    # Remote inputs are checked by name here (a video URL as the face photo); an http(s) one's start
    # (address, type, first bytes) at the end; the whole of each once fetched, when the job runs.
    for source in spec.sources:
        _check_photo(Path(source), "source face") if not is_remote_text(source) else _check_remote_photo(source, "source face")
    if spec.reference:
        if is_remote_text(spec.reference):
            _check_remote_photo(spec.reference, "reference face")
        else:
            _check_photo(Path(spec.reference), "reference face")
    for target in spec.targets:
        if not is_remote_text(target):
            _check_target(Path(target))
    targets = [Path(target_name(t)) for t in spec.targets]
    if spec.remote_output:
        destinations = [Path(PurePosixPath(urlsplit(uri).path).name) for uri in spec.object_destinations()]
    else:
        destinations = spec.destinations()
    videos_only = spec.lip_sync is not None  # a lip-synced photo is a video
    for raw, target, destination in zip(spec.targets, targets, destinations):
        if is_remote_text(raw) and target.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            continue  # a URL without a media extension: its kind is known once fetched
        check_format(TargetPlan(target, destination, _is_image(target) and not videos_only))
    modes = {Mode.IMAGE_TO_IMAGE if _is_image(t) and not videos_only else Mode.IMAGE_TO_VIDEO for t in targets}
    _check_builtin_models(spec, modes, config)
    check_url_inputs(spec)  # last: the checks that go on the network (the start of each input's file)
    check_object_inputs(spec)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _check_photo(path: Path, what: str) -> None:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        raise InputError(f"the {what} {path.name} is a video; a job takes the face from a photo",
                         f"{PHOTO_FIX}, e.g. a frame saved from the video")
    if suffix not in IMAGE_SUFFIXES or not cv2.haveImageReader(str(path)):
        raise InputError(f"the {what} {path.name} is not a picture SwapCast can read", PHOTO_FIX)


def _check_remote_photo(uri: str, what: str) -> None:
    name = target_name(uri)
    if PurePosixPath(name).suffix.lower() in VIDEO_SUFFIXES:
        raise InputError(f"the {what} {name} is a video; a job takes the face from a photo",
                         f"{PHOTO_FIX}, e.g. a frame saved from the video")


def _check_target(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if not cv2.haveImageReader(str(path)):
            raise InputError(f"the target {path.name} is not a picture SwapCast can read ({suffix} in name only)",
                             "re-save it as .png or .jpg, or pick another target")
    elif suffix not in VIDEO_SUFFIXES:
        kinds = " ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise InputError(f"the target {path.name} is not an image or a video SwapCast handles",
                         f"give a file ending in one of {kinds}")


def _check_builtin_models(spec: JobSpec, modes: Iterable[Mode], config: IntegrationsConfig | None) -> None:
    """Only when every enabled engine that could take the job is the built-in one: an external
    engine's availability (a server that is down now) can change before the job runs."""
    if config is None:
        from app.engine_host.settings import load_config  # the settings only, not the engine machinery

        config = load_config()  # a broken settings file fails every job: say so now
    wanted = set(modes)
    engines = [e for e in config.engines if e.enabled and wanted & set(e.modes)]
    in_process_only = bool(engines) and all(engine.in_process for engine in engines)
    # Lip sync runs in the built-in engine only (the others refuse it), so its models are checked anyway.
    if not (in_process_only or (spec.lip_sync is not None and any(e.in_process for e in engines))):
        return  # none: the runner says "no engine can …" with the engine settings' fix
    override = models_folder(spec.models)
    directory, missing = missing_builtin_models(spec.models, _roles_needed(spec))
    if not missing:
        return
    ids = list(missing.values())
    if override:
        fix = f"regenerate the folder with `swapcast models kit {override}`, or drop --models / {MODELS_ENV}"
    elif len(ids) == 1 and ids[0] is not None:
        fix = f"run `swapcast models download {ids[0]}`"
    else:
        fix = "run `swapcast models download --all` (or pass --models DIR with models made by `swapcast models kit DIR`)"
    raise ModelError(f"the built-in engine cannot run without {', '.join(missing)} (not in {directory})", fix)


def missing_builtin_models(models: str | None, roles: Iterable[str] = REQUIRED_ROLES) -> tuple[Path, dict[str, str | None]]:
    """The models folder (`models`: a --models DIR, or None for SWAPCAST_MODELS / the user's folder)
    and what the built-in engine needs for `roles` that is not in it: file → the model id to
    download (None: the catalog has no model of that role)."""
    from engines.models.store import ModelStore  # the catalog, not the engine machinery

    store = ModelStore.resolve(user_paths().models, models_folder(models))
    missing: dict[str, str | None] = {}
    for role in roles:
        try:
            spec_of_role = store.default_for(role)
        except ModelError:
            missing[f"a {role}"] = None
            continue
        if not (store.directory / spec_of_role.file).is_file():
            missing[spec_of_role.file] = spec_of_role.id
    return store.directory, missing


def _roles_needed(spec: JobSpec) -> tuple[str, ...]:
    """The model roles the built-in engine loads for `spec`: lip sync alone (no source faces) needs
    the detector and the lip syncer only, never the swapper and recognizer."""
    if spec.lip_sync is None:
        return REQUIRED_ROLES
    if not spec.sources:
        return (DETECTOR_ROLE, LIP_SYNC_ROLE)
    return (*REQUIRED_ROLES, LIP_SYNC_ROLE)
