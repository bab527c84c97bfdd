"""NVIDIA GPU name and memory through NVML; no GPU is a warning (models then run on the CPU)."""

from __future__ import annotations

from app.monitor.gpu import GpuReport, read_gpus

from .result import ONLY_LIVE, CheckResult, DoctorContext

NAME = "gpu"
NEEDED_FOR = ONLY_LIVE  # only a warning: offline work is slower without a GPU, live barely usable
GIB = 1024**3


def check(context: DoctorContext, report: GpuReport | None = None) -> CheckResult:
    report = report if report is not None else read_gpus()
    details = {"gpus": list(report.gpus), "reason": report.reason}
    if not report.gpus:
        why = f" ({report.reason})" if report.reason else ""
        hint = "Apple silicon and AMD/Intel GPUs are used through CoreML/DirectML where installed; " if context.system != "Linux" else ""
        return CheckResult(
            NAME, "warn", f"no NVIDIA GPU: models run on the CPU{why}",
            fix=f"{hint}live swapping needs a GPU for a usable frame rate; offline jobs work, slowly",
            needed_for=NEEDED_FOR, details=details,
        )
    parts = [
        f"{g.name} {g.memory_total / GIB:.0f} GiB ({g.memory_used / GIB:.1f} GiB in use)" for g in report.gpus
    ]
    driver = report.gpus[0].driver_version
    return CheckResult(
        NAME, "ok", "; ".join(parts) + (f", driver {driver}" if driver else ""),
        needed_for=NEEDED_FOR, details=details,
    )
