"""GPU readings: no NVIDIA here must be an empty answer with a reason; a GPU's facts come through."""

from __future__ import annotations

import os
from types import SimpleNamespace

from app.monitor.gpu import GpuMonitor, GpuReport, read_gpus


class FakeNvml:
    """Stands in for pynvml: one 80 GiB GPU on which this process holds 1 GiB."""

    def __init__(self, fail_init: Exception | None = None) -> None:
        self.fail_init = fail_init
        self.init_calls = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.fail_init is not None:
            raise self.fail_init

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"handle{index}"

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"550.54.15"

    def nvmlDeviceGetName(self, handle: str) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(used=3 * 1024**3, total=80 * 1024**3)

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(gpu=42, memory=10)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=1, usedGpuMemory=5), SimpleNamespace(pid=os.getpid(), usedGpuMemory=1024**3)]

    def nvmlShutdown(self) -> None:
        pass


def test_no_nvidia_gpu_is_an_empty_report_with_a_reason() -> None:
    report = read_gpus()  # this machine has no NVIDIA driver; CI neither
    assert isinstance(report, GpuReport)
    if not report.gpus:
        assert report.reason and not report.available


def test_gpu_facts_come_from_nvml() -> None:
    report = GpuMonitor(FakeNvml()).read()
    assert report.reason is None
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert (gpu.memory_used, gpu.memory_total) == (3 * 1024**3, 80 * 1024**3)
    assert gpu.utilization == 42
    assert gpu.process_memory == 1024**3  # only this process's share
    assert gpu.driver_version == "550.54.15"
    assert "H100" in gpu.describe()


def test_nvml_is_initialised_once_even_when_it_fails() -> None:
    class NVMLError_DriverNotLoaded(Exception):
        pass

    nvml = FakeNvml(fail_init=NVMLError_DriverNotLoaded("Driver Not Loaded"))
    monitor = GpuMonitor(nvml)
    first, second = monitor.read(), monitor.read()
    assert first.gpus == () and second.gpus == ()
    assert first.reason == "the NVIDIA driver is installed but not loaded"
    assert nvml.init_calls == 1  # a panel refreshing every second must not retry the driver each time

    working = FakeNvml()
    monitor = GpuMonitor(working)
    monitor.read(), monitor.read()
    assert working.init_calls == 1


def test_per_process_memory_unknown_is_none() -> None:
    class Containerised(FakeNvml):
        def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[SimpleNamespace]:
            return [SimpleNamespace(pid=os.getpid(), usedGpuMemory=None)]

        def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
            raise RuntimeError("Not Supported")

    (gpu,) = GpuMonitor(Containerised()).read().gpus
    assert gpu.process_memory is None and gpu.utilization is None
