"""Cheap, non-raising readings of the machine (GPU via NVML, CPU/RAM via psutil) for panels and `doctor`."""

from .gpu import GpuInfo, GpuMonitor, GpuReport, read_gpus
from .system import SystemMonitor, SystemStats, read_system

__all__ = [
    "GpuInfo",
    "GpuMonitor",
    "GpuReport",
    "read_gpus",
    "SystemMonitor",
    "SystemStats",
    "read_system",
]
