"""The Live view's lip-sync group: the toggle, the audio input picker (microphones, or an audio file
played as one) and a line that shows why there is no microphone, or the measured audio delay."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QSizePolicy, QWidget

from app.pipeline.api import LiveStats, SessionState

from .elided_label import ElidedLabel

if TYPE_CHECKING:
    from app.devices.audio_input import AudioInputStatus

AUDIO_FILE_ITEM = "__audio_file__"
AUDIO_FILTER = "Audio (*.wav *.mp3 *.m4a *.aac *.flac *.ogg *.opus);;Videos with sound (*.mp4 *.mov *.mkv);;All files (*)"


class LipSyncBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Lip sync", parent)
        row = QHBoxLayout(self)
        self.check = QCheckBox("Lip sync", self)
        self.check.setObjectName("lipSyncToggle")
        self.check.setToolTip("The mouth follows the audio input; the video waits ~0.1 s for it. "
                              "Pick a microphone, or an audio file played as one.")
        self.combo = QComboBox(self)
        self.combo.setObjectName("audioInputCombo")
        self.combo.setMinimumContentsLength(20)
        self.label = ElidedLabel("", self)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self.check)
        row.addWidget(self.combo, 2)
        row.addWidget(self.label, 3)
        self._status: AudioInputStatus | None = None
        self._file: Path | None = None
        self._wanted = ""  # the remembered input (a device index), picked once the inputs are listed
        self.check.toggled.connect(self._toggled)
        self.combo.activated.connect(self._activated)
        self._fill()

    # ---- what the panel asks ---------------------------------------------------------------------
    def choice(self) -> str | None:
        """The audio input picked (a device index or a file path), or None."""
        data = self.combo.currentData()
        return str(data) if data is not None and data != AUDIO_FILE_ITEM else None

    def wanted(self) -> bool:
        return self.check.isChecked()

    def restore(self, on: bool, audio_in: str) -> None:
        # A remembered audio file is offered again if it is still there; a microphone is picked again
        # once the inputs are listed (they are asked for only when lip sync is on).
        self._wanted = audio_in
        if audio_in and Path(audio_in).is_file():
            self.use_audio_file(Path(audio_in))
        self.check.setChecked(on)

    def set_audio_inputs(self, status: AudioInputStatus) -> None:
        """The microphones found here, or why there are none (an audio file still works)."""
        self._status = status
        self._fill()

    def use_audio_file(self, path: Path) -> None:
        self._file = Path(path)
        self._fill()

    def show_stats(self, stats: LiveStats) -> None:
        if stats.lip_sync and stats.state is SessionState.RUNNING:
            self.label.show_status("ok", f"{stats.audio_input}: audio→frame {stats.audio_latency_ms_p50:.0f} ms "
                             f"(p95 {stats.audio_latency_ms_p95:.0f}), A/V delay {stats.av_delay_ms:.0f} ms")

    # ---- inside ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        with QSignalBlocker(self.combo):
            self.combo.clear()
            status = self._status
            for device in status.devices if status is not None else ():
                self.combo.addItem(f"{device.index}: {device.name}", str(device.index))
            if self._file is not None:
                self.combo.addItem(self._file.name, str(self._file))
            self.combo.addItem("Audio file…", AUDIO_FILE_ITEM)
            wanted = self.combo.findData(str(self._file) if self._file else self._wanted)
            if wanted >= 0:
                self.combo.setCurrentIndex(wanted)
        if status is not None and not status.available:
            self.label.show_status("unavailable", f"no microphone: {status.problem}", f"{status.problem}\nfix: {status.fix}")
        else:
            self.label.show_status("", "")

    def _toggled(self, on: bool) -> None:
        if on and self._status is None:
            from app.devices.audio_input import audio_input_status

            self.set_audio_inputs(audio_input_status())  # PortAudio is asked only when lip sync is wanted

    def _activated(self, _index: int) -> None:
        if self.combo.currentData() != AUDIO_FILE_ITEM:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Audio to play as the microphone", str(Path.home()), AUDIO_FILTER)
        if path:
            self.use_audio_file(Path(path))
        else:
            self._fill()
