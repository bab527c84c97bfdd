"""The Live view's outputs group: the virtual camera, a stream and a recording, each with a line that
says what the session reports for it while it runs, else what will happen at Start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLineEdit, QPushButton, QSizePolicy, QWidget

from app.paths import user_paths
from app.pipeline.api import LiveStats, OutputStatus, SessionState

from .elided_label import ElidedLabel
from .live_controller import LiveController

if TYPE_CHECKING:
    from app.devices.virtual_camera import VirtualCameraStatus


class OutputsBox(QGroupBox):
    def __init__(self, controller: LiveController, parent: QWidget | None = None) -> None:
        super().__init__("Outputs", parent)
        self.controller = controller
        self.record_dir = user_paths().outputs
        self._vcam_status: VirtualCameraStatus | None = None
        self._outputs: dict[str, OutputStatus] = {}
        self._recording_to: Path | None = None  # the file of the recording in progress
        grid = QGridLayout(self)
        self.vcam_check = QCheckBox("Virtual camera", self)
        self.vcam_check.setObjectName("vcamToggle")
        # One line each, never taller: a long reason ends in "…" and is whole in the tooltip.
        self.vcam_label = ElidedLabel("checking…", self)
        self.vcam_label.setObjectName("vcamState")
        self.stream_edit = QLineEdit(self)
        self.stream_edit.setPlaceholderText("udp://127.0.0.1:5000  ·  srt://…  ·  rtmp://…")
        self.stream_button = QPushButton("Stream", self)
        self.stream_button.setCheckable(True)
        self.stream_label = ElidedLabel("", self)
        self.record_button = QPushButton("● Record", self)
        self.record_button.setCheckable(True)
        self.record_label = ElidedLabel("", self, Qt.TextElideMode.ElideMiddle)
        grid.addWidget(self.vcam_check, 0, 0)
        grid.addWidget(self.vcam_label, 0, 1, 1, 2)
        grid.addWidget(self.stream_button, 1, 0)
        grid.addWidget(self.stream_edit, 1, 1)
        grid.addWidget(self.stream_label, 1, 2)
        grid.addWidget(self.record_button, 2, 0)
        grid.addWidget(self.record_label, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        for label in (self.vcam_label, self.stream_label, self.record_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.vcam_check.toggled.connect(self._vcam_toggled)
        self.stream_button.toggled.connect(self._stream_toggled)
        self.record_button.toggled.connect(self._record_toggled)

    # ---- what the panel asks ---------------------------------------------------------------------
    def restore(self, virtual_cam: bool, stream_url: str) -> None:
        with QSignalBlocker(self.vcam_check):  # restoring does not send controls to a session
            self.vcam_check.setChecked(virtual_cam)
        self.stream_edit.setText(stream_url)

    def stream_url(self) -> str | None:
        """The stream to send, when Stream is on and a URL is given."""
        url = self.stream_edit.text().strip()
        return url if self.stream_button.isChecked() and url else None

    def record_path(self) -> Path | None:
        return self._record_path if self.record_button.isChecked() else None

    # ---- virtual camera, stream, recording ---------------------------------------------------------
    def set_virtual_camera_status(self, status: VirtualCameraStatus) -> None:
        self._vcam_status = status
        self._show_outputs()

    def _vcam_toggled(self, on: bool) -> None:
        self.controller.set_virtual_cam(on)
        self._show_outputs()

    def _stream_toggled(self, on: bool) -> None:
        url = self.stream_edit.text().strip()
        if on and not url:
            self.stream_button.setChecked(False)
            self.stream_label.show_text("enter a stream URL first")
            return
        self.stream_edit.setEnabled(not on)
        self.controller.set_stream(url if on else None)
        self._show_outputs()

    @property
    def _record_path(self) -> Path:
        if self._recording_to is None:
            self._recording_to = self.record_dir / time.strftime("live-%Y%m%d-%H%M%S.mp4")
        return self._recording_to

    def _record_toggled(self, on: bool) -> None:
        if on:
            self._recording_to = None  # a new file per recording
            path = self._record_path
            path.parent.mkdir(parents=True, exist_ok=True)
            self.controller.set_recording(path)
        else:
            self.controller.set_recording(None)
            self._recording_to = None
        self._show_outputs()

    # ---- observing ---------------------------------------------------------------------------------
    def show_state(self, running: bool) -> None:
        if not running:
            self._outputs = {}
        self._show_outputs()

    def show_stats(self, stats: LiveStats) -> None:
        if stats.state in (SessionState.STARTING, SessionState.RUNNING):
            self._outputs = {o.name: o for o in stats.outputs}
        self._show_outputs()

    def _show_outputs(self) -> None:
        running = self.controller.running
        vcam = self._outputs.get("virtual camera")
        if running and vcam is not None:
            self.vcam_label.show_status(vcam.state, vcam.detail or vcam.state)
        elif self._vcam_status is None:
            self.vcam_label.show_status("", "checking…")
        elif self._vcam_status.available:
            prefix = "will send to" if self.vcam_check.isChecked() else "available:"
            self.vcam_label.show_status("ok" if self.vcam_check.isChecked() else "",
                            f"{prefix} {self._vcam_status.label or 'SwapCast'} on {self._vcam_status.device}")
        else:
            status = self._vcam_status
            fix = f" — fix: {status.fix}" if status.fix else ""
            self.vcam_label.show_status("unavailable", f"unavailable: {status.problem}{fix}",
                            f"unavailable: {status.problem}" + (f"\nfix: {status.fix}" if status.fix else ""))
        for name, label, button in (("stream", self.stream_label, self.stream_button),
                                    ("recording", self.record_label, self.record_button)):
            output = self._outputs.get(name)
            if running and output is not None:
                label.show_status(output.state, output.detail or output.state)
            elif button.isChecked():
                label.show_status("", "starts with the session" if not running else "starting…")
            elif name == "recording":
                label.show_status("", f"saves into {self.record_dir}")
            else:
                label.show_status("", "")

