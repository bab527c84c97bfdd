"""Model files: the default detector, recognizer and swapper present and hash-verified.

The enhancer is optional (a toggle), so a missing one is only a warning.
"""

from __future__ import annotations

from typing import Any

from engines.models.catalog import OPTIONAL_ROLES, REQUIRED_ROLES

from .result import BOTH, CheckResult, DoctorContext

NAME = "models"
NEEDED_FOR = BOTH


def _default_spec(store: Any, role: str) -> Any | None:
    try:
        return store.default_for(role)
    except Exception:  # ModelError: the catalog lists no model for this role
        return None


def check(context: DoctorContext, store: Any | None = None) -> CheckResult:
    where = context.models_override or context.paths.models
    if context.models_override is not None:
        fix = f"regenerate the folder with `swapcast models kit {context.models_override}`, or drop --models / SWAPCAST_MODELS"
    else:
        fix = "swapcast models download --all (or --models DIR to use the generated test kit)"
    if store is None:
        from engines.models.store import ModelStore  # imported here: the doctor must start even if it breaks

        try:
            store = ModelStore.resolve(context.paths.models, context.models_override)
        except Exception as error:  # ModelError: no folder, no manifest, a broken catalog
            problem = getattr(error, "problem", None) or str(error)
            return CheckResult(NAME, "fail", problem, fix=getattr(error, "fix", None) or fix, needed_for=NEEDED_FOR)

    statuses = {spec.id: store.status(spec.id) for spec in store.specs()}
    details: dict[str, Any] = {
        "folder": str(where),
        "models": [
            {
                "id": s.spec.id, "role": s.spec.role, "file": s.spec.file, "default": bool(s.spec.default),
                "path": str(s.path), "present": s.present, "verified": s.verified, "problem": s.problem,
            }
            for s in statuses.values()
        ],
    }
    missing: dict[str, list[str]] = {"required": [], "optional": []}  # "file (role)"
    broken: dict[str, list[str]] = {"required": [], "optional": []}  # problem lines
    used: list[str] = []
    defaults: set[str] = set()
    for role in REQUIRED_ROLES + OPTIONAL_ROLES:
        kind = "required" if role in REQUIRED_ROLES else "optional"
        spec = _default_spec(store, role)
        if spec is None:
            if kind == "required":
                broken[kind].append(f"no {role} model is listed in {getattr(store, 'source', where)}")
            continue
        defaults.add(spec.id)
        status = statuses.get(spec.id) or store.status(spec.id)
        if status.verified:
            used.append(f"{role}: {spec.file}")
        elif not status.present:
            missing[kind].append(f"{spec.file} ({role})")
        else:
            broken[kind].append(status.problem or f"{spec.file} ({role}) is not usable")
    # A present but corrupt non-default file is worth knowing about, not a failure.
    for status in statuses.values():
        if status.present and not status.verified and status.spec.id not in defaults:
            broken["optional"].append(status.problem or f"{status.spec.file} fails its check")

    def words(kind: str) -> list[str]:
        found = [f"missing from {where}: {', '.join(missing[kind])}"] if missing[kind] else []
        return found + broken[kind]

    blocking, optional = words("required"), words("optional")
    if blocking:
        return CheckResult(
            NAME, "fail", "; ".join(blocking), fix=fix, needed_for=NEEDED_FOR, details=details,
        )
    summary = f"{len(used)} verified in {where} ({', '.join(used)})"
    if optional:
        return CheckResult(
            NAME, "warn", summary + "; " + "; ".join(optional),
            fix="swapcast models download --all" if context.models_override is None else fix,
            needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(NAME, "ok", summary, needed_for=NEEDED_FOR, details=details)
