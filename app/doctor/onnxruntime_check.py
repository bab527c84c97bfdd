"""onnxruntime: exactly one build installed, and its GPU providers really load.

Users of peer apps most often complain that models silently run on the CPU at ~1 fps: the CPU build
that insightface pulls in overwrote the GPU build, or CUDA/cuDNN libraries are missing. These checks
make both loud, with the reason onnxruntime itself gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from app.monitor.gpu import read_gpus

from .capture import captured_stderr
from .result import BOTH, CheckResult, DoctorContext, setup_script

BUILDS_NAME = "onnxruntime"
PROVIDERS_NAME = "execution provider"
NEEDED_FOR = BOTH

# Distributions that are not a build of the `onnxruntime` module itself, despite the name.
_NOT_BUILDS = ("onnxruntime-extensions", "onnxruntime-tools", "onnxruntime-genai")
GPU_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "CoreMLExecutionProvider",
    "OpenVINOExecutionProvider",
)
# Extras that often do not load on a healthy machine (TensorRT needs its own libraries): not a warning.
OPTIONAL_PROVIDERS = ("TensorrtExecutionProvider", "MIGraphXExecutionProvider", "OpenVINOExecutionProvider")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict[str, str]:
    """Installed builds of the `onnxruntime` module: {"onnxruntime-gpu": "1.31.1", ...}."""
    builds: dict[str, str] = {}
    for dist in metadata.distributions():
        name = _normalise(dist.metadata.get("Name") or "")
        if not (name.startswith("onnxruntime") or name.startswith("ort-nightly")):
            continue
        if name.startswith(_NOT_BUILDS):
            continue
        builds[name] = dist.version
    return builds


def _repair_fix(builds: dict[str, str], system: str, gpu_present: bool) -> str:
    if "onnxruntime-directml" in builds and system == "Windows":
        mode = "--directml"
    elif "onnxruntime-gpu" in builds or gpu_present:
        mode = "--gpu"
    else:
        mode = "--cpu"
    return f"{setup_script(system)} {mode} repairs it (removes the other builds and reinstalls one)"


def check_builds(context: DoctorContext) -> CheckResult:
    builds = installed_distributions()
    details: dict[str, Any] = {"installed": builds}
    listing = ", ".join(f"{name} {version}" for name, version in sorted(builds.items()))
    if not builds:
        return CheckResult(
            BUILDS_NAME, "fail", "onnxruntime is not installed: no model can run",
            fix=f"{setup_script(context.system)} installs the right build", needed_for=NEEDED_FOR, details=details,
        )
    if len(builds) > 1:
        gpu_present = bool(read_gpus().gpus)
        return CheckResult(
            BUILDS_NAME, "fail",
            f"{len(builds)} onnxruntime builds are installed together ({listing}): they share one folder, so the "
            "last one installed (often insightface's CPU build) overwrites the GPU build and models run on the CPU",
            fix=_repair_fix(builds, context.system, gpu_present), needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(BUILDS_NAME, "ok", listing, needed_for=NEEDED_FOR, details=details)


# ---------------------------------------------------------------- providers


@dataclass(frozen=True)
class ProviderProbe:
    provider: str
    loaded: bool  # the session really runs on this provider
    used: list[str]  # session.get_providers(): what onnxruntime actually registered
    error: str | None = None  # onnxruntime's own reason when it did not load


_probe_model: bytes | None = None


def probe_model() -> bytes:
    """A one-node Identity model, built once: enough to make a provider load its libraries."""
    global _probe_model
    if _probe_model is None:
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "swapcast-doctor-probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8  # old enough for every onnxruntime SwapCast supports
        _probe_model = model.SerializeToString()
    return _probe_model


_LIBRARY_ERROR = re.compile(r"Failed to load library (\S+) with error: (.+)")
_LOG_PREFIX = re.compile(r"^.*?\[[EW]:onnxruntime:[^\]]*\]\s*")


def reason_from_log(text: str) -> str | None:
    """The line of onnxruntime's native log that says why a provider did not load."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if (match := _LIBRARY_ERROR.search(line)) is not None:
            return f"cannot load {match.group(1)}: {match.group(2).strip()}"
    for line in reversed(lines):
        if "[E:" in line or "error" in line.lower():
            return _LOG_PREFIX.sub("", line)[:400]
    return lines[-1][:400] if lines else None


def probe_provider(provider: str) -> ProviderProbe:
    """Creates a session on `provider` (CPU as its only fallback) and reports what really loaded."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the reason, without the chatter
    # CPU as the only fallback lets get_providers() show whether `provider` itself was kept.
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    try:
        with captured_stderr() as log:
            session = ort.InferenceSession(
                probe_model(), sess_options=options,
                providers=providers, enable_fallback=0,
            )
            used = list(session.get_providers())
    except Exception as error:
        return ProviderProbe(provider, False, [], str(error).strip().splitlines()[-1][:400] or type(error).__name__)
    if used and used[0] == provider:
        return ProviderProbe(provider, True, used)
    return ProviderProbe(provider, False, used, reason_from_log(log.text) or f"onnxruntime fell back to {used[0] if used else 'nothing'}")


def check_providers(context: DoctorContext) -> CheckResult:
    try:
        import onnxruntime as ort
    except Exception as error:
        return CheckResult(
            PROVIDERS_NAME, "fail", f"onnxruntime cannot be imported: {error}",
            fix=f"{setup_script(context.system)} --recreate", needed_for=NEEDED_FOR,
        )
    available = list(ort.get_available_providers())
    gpus = read_gpus().gpus
    probes = [probe_provider(p) for p in GPU_PROVIDERS if p in available]
    working = [p.provider for p in probes if p.loaded]
    details: dict[str, Any] = {
        "version": ort.__version__, "device": ort.get_device(), "available": available,
        "probes": probes, "nvidia_gpus": [g.name for g in gpus],
    }
    gpu_words = f"NVIDIA {gpus[0].name}" if gpus else "a GPU"
    cuda = next((p for p in probes if p.provider == "CUDAExecutionProvider"), None)
    fix_cuda = (
        f"install the CUDA 12 runtime and cuDNN 9 that onnxruntime-gpu {ort.__version__} needs "
        "(pip install 'onnxruntime-gpu[cuda,cudnn]' brings them), then run "
        f"{setup_script(context.system)} --gpu"
    )

    if gpus and cuda is None:
        return CheckResult(
            PROVIDERS_NAME, "fail",
            f"{gpu_words} found, but this onnxruntime build has no CUDAExecutionProvider "
            f"(only {', '.join(available)}): every model would run on the CPU at a few fps",
            fix=f"{setup_script(context.system)} --gpu installs onnxruntime-gpu and removes the CPU build",
            needed_for=NEEDED_FOR, details=details,
        )
    if cuda is not None and not cuda.loaded:
        return CheckResult(
            PROVIDERS_NAME, "fail",
            f"CUDAExecutionProvider does not load, models would fall back to the CPU: {cuda.error}",
            fix=fix_cuda, needed_for=NEEDED_FOR, details=details,
        )
    failed = [p for p in probes if not p.loaded]
    if working:
        summary = f"models run on {working[0]} (onnxruntime {ort.__version__})"
        if failed:
            summary += "; not loading: " + "; ".join(f"{p.provider}: {p.error}" for p in failed)
            if any(p.provider not in OPTIONAL_PROVIDERS for p in failed):
                return CheckResult(PROVIDERS_NAME, "warn", summary, needed_for=NEEDED_FOR, details=details)
        return CheckResult(PROVIDERS_NAME, "ok", summary, needed_for=NEEDED_FOR, details=details)
    if failed:  # a GPU build whose provider does not load (e.g. DirectML without a usable adapter)
        return CheckResult(
            PROVIDERS_NAME, "fail",
            "no GPU provider loads, models would run on the CPU: " + "; ".join(f"{p.provider}: {p.error}" for p in failed),
            fix=f"update the GPU driver, or {setup_script(context.system)} --cpu to use the CPU build on purpose",
            needed_for=NEEDED_FOR, details=details,
        )
    cpu = probe_provider("CPUExecutionProvider")
    details["probes"] = [cpu]
    if not cpu.loaded:
        return CheckResult(
            PROVIDERS_NAME, "fail", f"onnxruntime cannot create a session: {cpu.error}",
            fix=f"{setup_script(context.system)} --recreate", needed_for=NEEDED_FOR, details=details,
        )
    return CheckResult(
        PROVIDERS_NAME, "ok",
        f"CPUExecutionProvider (onnxruntime {ort.__version__}; no GPU provider on this machine)",
        needed_for=NEEDED_FOR, details=details,
    )
