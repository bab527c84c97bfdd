"""GPU and system: GPU name, memory used / total, utilisation, this process's share; CPU and RAM.

Refreshed every second. The readings (app.monitor) are cheap, but NVML's first call initialises the
driver and a busy driver can take a while to answer, so each read runs on a worker and only its
result reaches the GUI thread — the preview never waits for NVML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFormLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from app.monitor.gpu import GpuReport, read_gpus
from app.monitor.system import SystemStats, read_system

from .elided_label import ElidedLabel
from .tasks import BackgroundTasks

GIB = 1024**3
MIB = 1024**2
REFRESH_MS = 1000


@dataclass(frozen=True)
class Reading:
    gpu: GpuReport
    system: SystemStats


def _bar(parent: QWidget) -> QProgressBar:
    bar = QProgressBar(parent)
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setMaximumHeight(18)
    return bar


class SystemPanel(QWidget):
    def __init__(
        self,
        tasks: BackgroundTasks,
        read_gpu: Callable[[], GpuReport] = read_gpus,
        read_sys: Callable[[], SystemStats] = read_system,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("systemPanel")
        self._tasks = tasks
        self._read_gpu = read_gpu
        self._read_sys = read_sys
        self._in_flight = False
        self.readings = 0
        self.gpu_name = ElidedLabel("reading…", self)  # one line; why there is no GPU: the tooltip
        self.gpu_memory = _bar(self)
        self.gpu_util = _bar(self)
        self.gpu_process = QLabel("–", self)
        self.cpu = _bar(self)
        self.ram = _bar(self)
        self.process = QLabel("–", self)
        form = QFormLayout()
        form.addRow("GPU", self.gpu_name)
        form.addRow("GPU memory", self.gpu_memory)
        form.addRow("GPU load", self.gpu_util)
        form.addRow("SwapCast on GPU", self.gpu_process)
        form.addRow("CPU", self.cpu)
        form.addRow("RAM", self.ram)
        form.addRow("SwapCast", self.process)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    def start(self) -> None:
        self.refresh()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def refresh(self) -> None:
        if self._in_flight:
            return  # the previous read has not answered: skip a beat rather than queue reads
        self._in_flight = True
        started = self._tasks.submit(lambda: Reading(self._read_gpu(), self._read_sys()),
                                     on_done=self.show_reading, on_error=lambda _e: self._done())
        if not started:
            self._in_flight = False

    def _done(self) -> None:
        self._in_flight = False

    def show_reading(self, reading: Reading) -> None:
        self._done()
        self.readings += 1
        report = reading.gpu
        if report.available:
            gpu = report.gpus[0]
            more = f" (+{len(report.gpus) - 1} more)" if len(report.gpus) > 1 else ""
            self.gpu_name.show_text(f"{gpu.name}{more} · driver {gpu.driver_version}")
            self._fill(self.gpu_memory, gpu.memory_used / gpu.memory_total if gpu.memory_total else 0.0,
                       f"{gpu.memory_used / GIB:.1f} / {gpu.memory_total / GIB:.1f} GiB")
            if gpu.utilization is None:
                self._fill(self.gpu_util, 0.0, "not reported")
            else:
                self._fill(self.gpu_util, gpu.utilization / 100.0, f"{gpu.utilization} %")
            if gpu.process_memory is None:
                self.gpu_process.setText("not reported by the driver")
            else:
                share = gpu.process_memory / gpu.memory_total * 100 if gpu.memory_total else 0.0
                self.gpu_process.setText(f"{gpu.process_memory / MIB:.0f} MiB ({share:.0f} % of the GPU)")
        else:
            self.gpu_name.show_text(f"no NVIDIA GPU — {report.reason}" if report.reason else "no NVIDIA GPU")
            self._fill(self.gpu_memory, 0.0, "–")
            self._fill(self.gpu_util, 0.0, "–")
            self.gpu_process.setText("–")
        system = reading.system
        self._fill(self.cpu, system.cpu_percent / 100.0, f"{system.cpu_percent:.0f} % of {system.cpu_count} cores")
        self._fill(self.ram, system.ram_percent / 100.0,
                   f"{system.ram_used / GIB:.1f} / {system.ram_total / GIB:.1f} GiB")
        self.process.setText(f"{system.process_rss / MIB:.0f} MiB RAM · CPU {system.process_cpu_percent:.0f} %")

    @staticmethod
    def _fill(bar: QProgressBar, fraction: float, text: str) -> None:
        bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        bar.setFormat(text)
