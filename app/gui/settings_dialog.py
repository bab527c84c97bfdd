"""Settings: execution provider, detector size, enhancer blend, output folder, hotkeys, remote control."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QKeySequenceEdit, QLabel,
    QLineEdit, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from .settings import DETECTOR_SIZES, HOTKEY_ACTIONS, PROVIDERS, Preferences

PROVIDER_LABELS = {
    "auto": "Automatic (engine profile; else the best available)",
    "cuda": "CUDA (NVIDIA)",
    "tensorrt": "TensorRT (NVIDIA; first start builds engines, minutes)",
    "directml": "DirectML (Windows)",
    "coreml": "CoreML (macOS)",
    "cpu": "CPU only",
}


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SwapCast settings")
        self.setObjectName("settingsDialog")
        self._initial = prefs

        self.provider = QComboBox(self)
        for name in PROVIDERS:
            self.provider.addItem(PROVIDER_LABELS[name], name)
        self.provider.setCurrentIndex(max(0, self.provider.findData(prefs.provider)))
        self.det_size = QComboBox(self)
        for size in DETECTOR_SIZES:
            self.det_size.addItem(f"{size} × {size}" if size else "Automatic (engine profile)", size)
        index = self.det_size.findData(prefs.det_size)
        if index < 0:
            self.det_size.addItem(f"{prefs.det_size} × {prefs.det_size}", prefs.det_size)
            index = self.det_size.count() - 1
        self.det_size.setCurrentIndex(index)
        self.blend = QSlider(Qt.Orientation.Horizontal, self)
        self.blend.setRange(0, 100)
        self.blend.setValue(int(round(prefs.enhance_blend * 100)))
        self.blend_label = QLabel(f"{self.blend.value()} %", self)
        self.blend.valueChanged.connect(lambda v: self.blend_label.setText(f"{v} %"))
        blend_row = QHBoxLayout()
        blend_row.addWidget(self.blend, 1)
        blend_row.addWidget(self.blend_label)
        self.output_dir = QLineEdit(str(prefs.output_dir), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_dir, 1)
        output_row.addWidget(browse)

        engine = QGroupBox("Engine", self)
        engine_form = QFormLayout(engine)
        engine_form.addRow("Execution provider", self.provider)
        engine_form.addRow("Detector size", self.det_size)
        engine_form.addRow("Enhancer blend", blend_row)
        note = QLabel("Provider and detector size reload the models; a running live session keeps its "
                      "models until it is restarted.", self)
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        engine_form.addRow(note)

        files = QGroupBox("Files", self)
        files_form = QFormLayout(files)
        files_form.addRow("Output folder", output_row)

        keys = QGroupBox("Hotkeys", self)
        keys_form = QFormLayout(keys)
        self.hotkeys: dict[str, QKeySequenceEdit] = {}
        for action, label in HOTKEY_ACTIONS.items():
            edit = QKeySequenceEdit(QKeySequence(prefs.hotkeys.get(action, "")), self)
            edit.setMaximumSequenceLength(1)
            keys_form.addRow(label, edit)
            self.hotkeys[action] = edit
        keys_form.addRow("Switch source face", QLabel("1 – 9", self))

        remote = QGroupBox("Remote control", self)
        remote_form = QFormLayout(remote)
        self.remote_control = QCheckBox("Allow remote control", self)
        self.remote_control.setObjectName("allowRemoteControl")
        self.remote_control.setChecked(prefs.remote_control)
        self.remote_port = QSpinBox(self)
        self.remote_port.setRange(0, 65535)
        self.remote_port.setSpecialValueText("any free port")
        self.remote_port.setValue(prefs.remote_port)
        self.remote_all = QCheckBox("Reachable from other machines (listens on every network interface)", self)
        self.remote_all.setChecked(prefs.remote_all_interfaces)
        remote_form.addRow(self.remote_control)
        remote_form.addRow("Port", self.remote_port)
        remote_form.addRow(self.remote_all)
        remote_note = QLabel("Scripts, OBS and Stream Deck drive the studio over the task API (docs/API.md). "
                             "Every request needs a token: the first start shows an admin token; make more with "
                             "`swapcast tokens create`. The status bar shows the address while it runs.", self)
        remote_note.setWordWrap(True)
        remote_note.setStyleSheet("color: palette(mid);")
        remote_form.addRow(remote_note)
        for widget in (self.remote_port, self.remote_all):
            widget.setEnabled(prefs.remote_control)
            self.remote_control.toggled.connect(widget.setEnabled)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(engine)
        layout.addWidget(files)
        layout.addWidget(keys)
        layout.addWidget(remote)
        layout.addStretch(1)  # spare height below the groups, not inside one of them
        layout.addWidget(buttons)
        self.resize(560, 680)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output_dir.text())
        if folder:
            self.output_dir.setText(folder)

    def preferences(self) -> Preferences:
        keys = {action: edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
                for action, edit in self.hotkeys.items()}
        text = self.output_dir.text().strip()
        return replace(
            self._initial,
            provider=str(self.provider.currentData()),
            det_size=int(self.det_size.currentData()),
            enhance_blend=self.blend.value() / 100.0,
            output_dir=Path(text).expanduser() if text else self._initial.output_dir,
            hotkeys=keys,
            remote_control=self.remote_control.isChecked(),
            remote_port=self.remote_port.value(),
            remote_all_interfaces=self.remote_all.isChecked(),
        )
