"""resources/integrations.json: which engines exist, how to reach them, and in what order to use them.

The file is checked against resources/integrations.schema.json, then against the rules a schema
cannot say well (a transport that fits the engine's kind). Every problem is one line that names the
file, the engine entry and the field.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.json_file import read_json
from engines.resources import resources_dir

from .errors import IntegrationConfigError
from .schema import SchemaChecker, SchemaProblem

INTEGRATIONS_FILE = "integrations.json"
SCHEMA_FILE = "integrations.schema.json"


class Mode(str, enum.Enum):
    IMAGE_TO_CAMERA = "image_to_camera"  # live: source photo → webcam frames → virtual camera
    IMAGE_TO_IMAGE = "image_to_image"
    IMAGE_TO_VIDEO = "image_to_video"


class Transport(str, enum.Enum):
    INPROCESS = "inprocess"  # the built-in engine, in this process
    SUBPROCESS = "subprocess"  # a CLI run once per target
    HTTP = "http"  # a server answering POST /process
    WEBSOCKET = "websocket"  # a server followed over a WebSocket, files over HTTP (ComfyUI)


class MemoryStrategy(str, enum.Enum):
    KEEP_LOADED = "keep_loaded"  # models stay loaded between jobs (fast start, holds memory)
    RELEASE_AFTER_JOB = "release_after_job"  # models are released when a job ends (frees the GPU)


KIND_TRANSPORTS: dict[str, tuple[Transport, ...]] = {
    "builtin": (Transport.INPROCESS,),
    "facefusion": (Transport.SUBPROCESS, Transport.HTTP, Transport.WEBSOCKET),
    "deep-live-cam": (Transport.SUBPROCESS,),
    "iroop": (Transport.SUBPROCESS,),  # iRoopDeepFaceCam: the Deep-Live-Cam CLI shape
    "comfyui": (Transport.WEBSOCKET,),
}


@dataclass(frozen=True)
class Timeouts:
    start_s: float = 120.0  # from launch to the first sign of life (models load slowly on first use)
    idle_s: float = 300.0  # longest silence once it has started: past it the engine is hung
    total_s: float = 6 * 3600.0  # the whole target
    health_s: float = 5.0  # one health check (an HTTP GET, an interpreter probe)


@dataclass(frozen=True)
class Retries:
    attempts: int = 2  # tries on this engine for transient errors, before failing over
    backoff_s: float = 2.0  # wait before the second try; doubles each time
    max_backoff_s: float = 60.0

    def delay(self, failed_attempts: int) -> float:
        """Back-off before the next try, after `failed_attempts` (1, 2, ...) transient failures."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(0, failed_attempts - 1))


@dataclass(frozen=True)
class Profile:
    """LoadOptions overrides of the built-in engine (e.g. the CPU-friendly 'lite' profile)."""

    name: str = "default"
    det_size: int | None = None
    det_threshold: float | None = None
    load_enhancer: bool | None = None
    allow_enhance: bool = True  # False: the profile has no enhancer; a job's --enhance is ignored (with a warning)
    threads: int | str | None = None  # int, or "auto" (tuned to this machine's cores)
    providers: tuple[str, ...] | None = None
    swapper_precision: str | None = None
    # (role, model id) the profile prefers, e.g. the small SCRFD-500M / MobileFaceNet pair for "lite";
    # used where the models folder has them, the role's default otherwise.
    models: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Launch:
    """How to start an HTTP engine's server when it is down (restarted with back-off)."""

    command: tuple[str, ...]
    cwd: str | None = None
    ready_timeout_s: float = 60.0


@dataclass(frozen=True)
class EngineConfig:
    name: str
    kind: str  # builtin | facefusion | deep-live-cam | iroop | comfyui
    enabled: bool
    priority: int  # higher is tried first
    transport: Transport
    modes: tuple[Mode, ...]
    path: str = ""  # the install folder of an external engine ("" = not set)
    python: str = ""  # its interpreter ("" = look for a venv inside `path`, then python3 on PATH)
    url: str = ""  # base URL of an HTTP engine
    allow_remote: bool = False  # the user agreed that files go to a URL off this machine (origin.py)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retries: Retries = field(default_factory=Retries)
    profile: Profile | None = None
    execution_providers: tuple[str, ...] = ()  # passed to external engines ("cuda", "cpu"...); () = their default
    extra_args: tuple[str, ...] = ()
    launch: Launch | None = None
    description: str = ""
    workflow: str = ""  # comfyui: the API-format workflow file (relative: to the resources folder)
    workflow_mapping: str = ""  # comfyui: its mapping file ("" = the workflow's name with .mapping.json)

    @property
    def in_process(self) -> bool:
        return self.transport is Transport.INPROCESS

    def supports(self, mode: Mode) -> bool:
        return mode in self.modes


@dataclass(frozen=True)
class AllocatorConfig:
    # Memory a loaded model takes per byte of its file, by provider: weights plus activations,
    # workspace and the runtime's arenas. Rough, on purpose: a refusal must come before a crash.
    factors: dict[str, float] = field(default_factory=lambda: {"cpu": 1.5, "cuda": 2.5, "tensorrt": 3.0,
                                                               "directml": 2.5, "coreml": 2.0})
    reserve_mib: int = 512  # kept free for frames, the encoder and other programs


@dataclass(frozen=True)
class IntegrationsConfig:
    engines: tuple[EngineConfig, ...]
    memory_strategy: MemoryStrategy = MemoryStrategy.KEEP_LOADED
    allocator: AllocatorConfig = field(default_factory=AllocatorConfig)
    source: Path | None = None

    def engine(self, name: str) -> EngineConfig:
        for engine in self.engines:
            if engine.name == name:
                return engine
        known = ", ".join(e.name for e in self.engines)
        raise IntegrationConfigError(f"no engine named {name!r} (known: {known})", "see `swapcast engines`")


def default_integrations_path() -> Path:
    return resources_dir() / INTEGRATIONS_FILE


def schema_path() -> Path:
    return resources_dir() / SCHEMA_FILE


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def load_integrations(path: Path | None = None) -> IntegrationsConfig:
    path = Path(path) if path is not None else default_integrations_path()
    try:
        data = read_json(path, IntegrationConfigError, _fix(path))
    except FileNotFoundError:
        raise IntegrationConfigError(f"{path}: engine settings file not found",
                                     "restore it from the SwapCast install, or unset SWAPCAST_INTEGRATIONS") from None
    return parse_integrations(data, path)


def parse_integrations(data: Any, source: Path) -> IntegrationsConfig:
    problems = SchemaChecker(load_schema()).problems(data)
    if not problems:
        problems = _rule_problems(data)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise IntegrationConfigError(f"{source.name}: {describe(first)}{more}", _fix(source))
    engines = tuple(_engine(name, entry) for name, entry in data["engines"].items())
    allocator = data.get("allocator", {})
    defaults = AllocatorConfig()
    return IntegrationsConfig(
        engines=engines,
        memory_strategy=MemoryStrategy(data.get("memoryStrategy", MemoryStrategy.KEEP_LOADED.value)),
        allocator=AllocatorConfig(factors={**defaults.factors, **allocator.get("factors", {})},
                                  reserve_mib=int(allocator.get("reserveMiB", defaults.reserve_mib))),
        source=source,
    )


def describe(problem: SchemaProblem) -> str:
    """`engine 'facefusion': priority must be an integer, not a string ("high")`."""
    path = list(problem.path)
    where = ""
    if len(path) >= 2 and path[0] == "engines":
        where = f"engine '{path[1]}'"
        path = path[2:]
    field_name = ""
    for part in path:
        field_name += f"[{part}]" if isinstance(part, int) else (f".{part}" if field_name else str(part))
    if where and field_name:
        return f"{where}: {field_name} {problem.message}"
    if where:
        return f"{where} {problem.message}"
    if field_name:
        return f"{field_name} {problem.message}"
    return f"the file {problem.message}"


def _fix(path: Path) -> str:
    if path.resolve() == default_integrations_path().resolve():
        return f"fix {path} (see docs/ENGINES.md) or reinstall SwapCast"
    return f"fix {path} (see docs/ENGINES.md), or delete it to use the shipped defaults"


def _rule_problems(data: dict[str, Any]) -> list[SchemaProblem]:
    """What the schema cannot say: transports that fit each kind, live mode in-process only."""
    problems: list[SchemaProblem] = []
    for name, entry in data["engines"].items():
        kind, transport = entry["kind"], Transport(entry["transport"])
        allowed = KIND_TRANSPORTS[kind]
        if transport not in allowed:
            problems.append(SchemaProblem(("engines", name, "transport"),
                                          f"must be {' or '.join(t.value for t in allowed)} for a {kind} engine, "
                                          f"not {transport.value!r}"))
        if Mode.IMAGE_TO_CAMERA.value in entry["supportedModes"] and transport is not Transport.INPROCESS:
            problems.append(SchemaProblem(("engines", name, "supportedModes"),
                                          "cannot include image_to_camera: live frames are only swapped in-process "
                                          "(by a builtin engine)"))
        networked = transport in (Transport.HTTP, Transport.WEBSOCKET)
        if networked and entry.get("enabled") and not entry.get("url"):
            problems.append(SchemaProblem(("engines", name, "url"), f"must be set for an enabled {transport.value} engine"))
        if entry.get("allowRemote") and not networked:
            problems.append(SchemaProblem(("engines", name, "allowRemote"), "only applies to http and websocket engines"))
        if ("workflow" in entry or "workflowMapping" in entry) and kind != "comfyui":
            problems.append(SchemaProblem(("engines", name, "workflow"), "only applies to comfyui engines"))
        if "profile" in entry and kind != "builtin":
            problems.append(SchemaProblem(("engines", name, "profile"), "only applies to builtin engines"))
    return problems


def _engine(name: str, entry: dict[str, Any]) -> EngineConfig:
    timeouts, retries = entry.get("timeouts", {}), entry.get("retries", {})
    t, r = Timeouts(), Retries()
    launch = entry.get("launch")
    return EngineConfig(
        name=name,
        kind=entry["kind"],
        enabled=bool(entry["enabled"]),
        priority=int(entry["priority"]),
        transport=Transport(entry["transport"]),
        modes=tuple(Mode(mode) for mode in entry["supportedModes"]),
        path=os.path.expanduser(entry.get("path", "")),
        python=os.path.expanduser(entry.get("python", "")),
        url=entry.get("url", "").rstrip("/"),
        allow_remote=bool(entry.get("allowRemote", False)),
        timeouts=Timeouts(start_s=float(timeouts.get("startS", t.start_s)),
                          idle_s=float(timeouts.get("idleS", t.idle_s)),
                          total_s=float(timeouts.get("totalS", t.total_s)),
                          health_s=float(timeouts.get("healthS", t.health_s))),
        retries=Retries(attempts=int(retries.get("attempts", r.attempts)),
                        backoff_s=float(retries.get("backoffS", r.backoff_s)),
                        max_backoff_s=float(retries.get("maxBackoffS", r.max_backoff_s))),
        profile=_profile(entry["profile"]) if "profile" in entry else None,
        execution_providers=tuple(entry.get("executionProviders", ())),
        extra_args=tuple(entry.get("extraArgs", ())),
        launch=Launch(command=tuple(launch["command"]), cwd=launch.get("cwd") or None,
                      ready_timeout_s=float(launch.get("readyTimeoutS", 60.0))) if launch else None,
        description=entry.get("description", ""),
        workflow=os.path.expanduser(entry.get("workflow", "")),
        workflow_mapping=os.path.expanduser(entry.get("workflowMapping", "")),
    )


def _profile(data: dict[str, Any]) -> Profile:
    providers = data.get("providers")
    return Profile(
        name=data.get("name", "default"),
        det_size=data.get("detSize"),
        det_threshold=data.get("detThreshold"),
        load_enhancer=data.get("loadEnhancer"),
        allow_enhance=bool(data.get("enhance", True)),
        threads=data.get("threads"),
        providers=tuple(providers) if providers is not None else None,
        swapper_precision=data.get("swapperPrecision"),
        models=tuple(sorted(data.get("models", {}).items())),
    )
