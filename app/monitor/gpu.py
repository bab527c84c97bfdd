"""NVIDIA GPU facts through NVML (the `pynvml` module of nvidia-ml-py).

Read once a second by the GUI's side panel, so NVML is initialised once, lazily, and a machine
without an NVIDIA driver is remembered as such instead of being probed again on every read.
Nothing here raises: a missing GPU is an empty list plus a reason a person can read.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_used: int  # bytes, all processes
    memory_total: int  # bytes
    utilization: int | None  # percent of time a kernel ran, last sample period; None if unsupported
    process_memory: int | None  # bytes this process holds; None when NVML does not say (containers, WDDM)
    driver_version: str

    @property
    def memory_free(self) -> int:
        return max(0, self.memory_total - self.memory_used)

    def describe(self) -> str:
        gib = 1024**3
        return f"GPU {self.index}: {self.name}, {self.memory_used / gib:.1f} / {self.memory_total / gib:.1f} GiB used"


@dataclass(frozen=True)
class GpuReport:
    gpus: tuple[GpuInfo, ...] = ()
    reason: str | None = None  # why `gpus` is empty (or partial), in words

    @property
    def available(self) -> bool:
        return bool(self.gpus)


def _text(value: Any) -> str:
    # Older pynvml releases return bytes, newer ones str.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class GpuMonitor:
    """Holds the NVML session. `nvml` may be a stand-in module (tests)."""

    nvml: ModuleType | Any | None = None
    _ready: bool = field(default=False, init=False)
    _failure: str | None = field(default=None, init=False)
    _handles: list[Any] = field(default_factory=list, init=False)
    _driver: str = field(default="", init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _init(self) -> None:
        """Runs once; afterwards `_ready` or `_failure` is set for good."""
        try:
            if self.nvml is None:
                import pynvml

                self.nvml = pynvml
            nvml = self.nvml
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            try:
                self._driver = _text(nvml.nvmlSystemGetDriverVersion())
            except Exception:
                self._driver = ""
            self._ready = True
            if count == 0:
                self._failure = "the NVIDIA driver is loaded but reports no GPU"
        except ImportError:
            self._failure = "nvidia-ml-py (pynvml) is not installed"
        except Exception as error:
            self._failure = _explain_init_error(error)

    def read(self) -> GpuReport:
        with self._lock:
            if not self._ready and self._failure is None:
                self._init()
            if not self._ready:
                return GpuReport((), self._failure)
            gpus: list[GpuInfo] = []
            problems: list[str] = []
            for index, handle in enumerate(self._handles):
                try:
                    gpus.append(self._read_one(index, handle))
                except Exception as error:  # a GPU that fell off the bus must not hide the others
                    problems.append(f"GPU {index}: {error}")
            reason = "; ".join(problems) if problems else self._failure
            return GpuReport(tuple(gpus), reason)

    def _read_one(self, index: int, handle: Any) -> GpuInfo:
        nvml = self.nvml
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        try:
            utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            utilization = None
        return GpuInfo(
            index=index,
            name=_text(nvml.nvmlDeviceGetName(handle)),
            memory_used=int(memory.used),
            memory_total=int(memory.total),
            utilization=utilization,
            process_memory=self._process_memory(handle),
            driver_version=self._driver,
        )

    def _process_memory(self, handle: Any) -> int | None:
        pid = os.getpid()
        try:
            processes = self.nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except Exception:
            return None
        for process in processes:
            if int(process.pid) == pid:
                used = getattr(process, "usedGpuMemory", None)
                # NVML reports "not available" (e.g. inside containers / WDDM) as None or a huge sentinel.
                if used is None or int(used) >= 2**63:
                    return None
                return int(used)
        return 0  # NVML answered, and this process holds nothing on this GPU

    def close(self) -> None:
        with self._lock:
            if self._ready and self.nvml is not None:
                try:
                    self.nvml.nvmlShutdown()
                except Exception:
                    pass
            self._ready = False
            self._failure = None
            self._handles = []


def _explain_init_error(error: Exception) -> str:
    name = type(error).__name__
    if "LibraryNotFound" in name:
        return "no NVIDIA driver found: the NVML library is missing"
    if "DriverNotLoaded" in name:
        return "the NVIDIA driver is installed but not loaded"
    if "NoPermission" in name:
        return "no permission to query the NVIDIA driver"
    return f"NVML failed: {error}"


_default = GpuMonitor()


def read_gpus() -> GpuReport:
    """The process-wide monitor's reading: GpuReport(gpus=(), reason=...) when there is no NVIDIA GPU."""
    return _default.read()
