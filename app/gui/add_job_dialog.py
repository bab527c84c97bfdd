"""Add a job: source faces, targets (files or a folder), output, and the swap options.

The options are validated by the same code as `swapcast jobs add` (app.jobs.cli_options): the
dialog fills an argparse.Namespace with what the user chose and asks spec_from_args for the
JobSpec, then app.jobs.admission whether it can ever run (a video as the face photo, missing
models), so the GUI and the CLI accept and refuse exactly the same things, with the same words.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from app.jobs.admission import check_runnable
from app.jobs.cli_options import MEDIA_EXTENSIONS, spec_from_args
from app.jobs.model import ENCODERS, JobSpec
from engines.base import OFFLINE_FACE_SELECTIONS
from app.paths import user_paths
from engines.imaging import IMAGE_SUFFIXES

from .style import DOWN

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"
MEDIA_FILTER = "Images and videos (" + " ".join(f"*{s}" for s in sorted(MEDIA_EXTENSIONS)) + ");;All files (*)"


class _PathList(QWidget):
    """A list of paths with Add / Remove buttons."""

    def __init__(self, title: str, file_filter: str, folders: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._filter = file_filter
        self.list = QListWidget(self)
        self.list.setMaximumHeight(90)
        add = QPushButton("Add files…", self)
        add.clicked.connect(self._add_files)
        remove = QPushButton("Remove", self)
        remove.clicked.connect(self._remove)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        if folders:
            folder = QPushButton("Add folder…", self)
            folder.clicked.connect(self._add_folder)
            buttons.addWidget(folder)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def paths(self) -> list[Path]:
        return [Path(self.list.item(i).text()) for i in range(self.list.count())]

    def add(self, paths: list[Path]) -> None:
        known = set(self.paths())
        for path in paths:
            if path not in known:
                self.list.addItem(str(path))
                known.add(path)

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, self._title, "", self._filter)
        self.add([Path(f) for f in files])

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self._title)
        if folder:
            self.add([Path(folder)])

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))


class AddJobDialog(QDialog):
    def __init__(
        self,
        parent: QWidget | None = None,
        sources: tuple[Path, ...] = (),
        output_dir: Path | None = None,
        models: Path | None = None,
        enhance_default: bool = False,
        enhance_blend: float = 0.8,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a job")
        self.setObjectName("addJobDialog")
        self.models = models
        self.output_dir = output_dir or user_paths().outputs
        self.spec: JobSpec | None = None
        self._auto_output = ""  # the last output we suggested; replaced while the user has not typed one

        self.sources = _PathList("Source face photos", IMAGE_FILTER, folders=False, parent=self)
        self.sources.add(list(sources))
        self.targets = _PathList("Targets (images or videos)", MEDIA_FILTER, folders=True, parent=self)
        self.targets.list.model().rowsInserted.connect(lambda *_: self._suggest_output())
        self.targets.list.model().rowsRemoved.connect(lambda *_: self._suggest_output())
        self.output = QLineEdit(self)
        self.output.setObjectName("jobOutput")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(browse)

        self.enhance = QCheckBox("Enhance the swapped faces (GFPGAN)", self)
        self.enhance.setChecked(enhance_default)
        self._enhance_blend = enhance_blend  # from Settings
        self.faces = QComboBox(self)
        for mode in OFFLINE_FACE_SELECTIONS:
            self.faces.addItem(mode.value, mode.value)
        self.reference = QLineEdit(self)
        self.reference.setPlaceholderText("photo of the face to replace (faces: reference)")
        self.reference.setEnabled(False)
        self.faces.currentIndexChanged.connect(
            lambda _i: self.reference.setEnabled(self.faces.currentData() == "reference"))
        self.source_face = QSpinBox(self)
        self.source_face.setRange(-1, 20)
        self.source_face.setSpecialValueText("largest")
        self.source_face.setValue(-1)
        self.trim = QCheckBox("Only", self)
        self.trim_start = QDoubleSpinBox(self)
        self.trim_end = QDoubleSpinBox(self)
        for spin in (self.trim_start, self.trim_end):
            spin.setRange(0.0, 86400.0)
            spin.setDecimals(2)
            spin.setSuffix(" s")
        self.trim_end.setValue(10.0)
        trim_row = QHBoxLayout()
        trim_row.addWidget(self.trim)
        trim_row.addWidget(self.trim_start)
        trim_row.addWidget(QLabel("to", self))
        trim_row.addWidget(self.trim_end)
        trim_row.addStretch(1)
        self.quality = QSpinBox(self)
        self.quality.setRange(-1, 100)
        self.quality.setSpecialValueText("encoder default")
        self.quality.setValue(-1)
        self.encoder = QComboBox(self)
        for name in ENCODERS:
            self.encoder.addItem(name, name)
        self.audio = QCheckBox("Keep the audio", self)
        self.audio.setChecked(True)
        self.overwrite = QCheckBox("Overwrite an existing output", self)

        options = QGroupBox("Options", self)
        form = QFormLayout(options)
        form.addRow(self.enhance)
        form.addRow("Faces to replace", self.faces)
        form.addRow("Reference", self.reference)
        form.addRow("Face of the source photo", self.source_face)
        form.addRow("Video part", trim_row)
        form.addRow("Video quality (0–100)", self.quality)
        form.addRow("Encoder", self.encoder)
        form.addRow(self.audio)
        form.addRow(self.overwrite)

        self.error = QLabel("", self)
        self.error.setObjectName("jobError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {DOWN};")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to queue")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        main = QFormLayout()
        main.addRow("Source faces", self.sources)
        main.addRow("Targets", self.targets)
        main.addRow("Output", output_row)
        layout = QVBoxLayout(self)
        layout.addLayout(main)
        layout.addWidget(options)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(640, 560)

    # ---- output ---------------------------------------------------------------------------------
    def _suggest_output(self) -> None:
        if self.output.text().strip() not in ("", self._auto_output):
            return  # the user chose one
        targets = self.targets.paths()
        if not targets:
            suggestion = ""
        elif len(targets) == 1 and targets[0].is_file():
            target = targets[0]
            suggestion = str(self.output_dir / f"{target.stem}_swapped{target.suffix}")
        else:
            suggestion = str(self.output_dir / "swapped")
        self._auto_output = suggestion
        self.output.setText(suggestion)

    def _browse_output(self) -> None:
        targets = self.targets.paths()
        if len(targets) == 1 and targets[0].is_file():
            path, _ = QFileDialog.getSaveFileName(self, "Save the result as", self.output.text() or str(self.output_dir))
        else:
            path = QFileDialog.getExistingDirectory(self, "Save the results into", str(self.output_dir))
        if path:
            self.output.setText(path)

    # ---- validation -------------------------------------------------------------------------------
    def namespace(self) -> argparse.Namespace:
        """What the user chose, in the shape `swapcast jobs add` parses its options into."""
        faces = str(self.faces.currentData())
        reference = self.reference.text().strip() or None
        return argparse.Namespace(
            sources=[str(p) for p in self.sources.paths()],
            targets=[str(p) for p in self.targets.paths()],
            output=self.output.text().strip(),
            enhance=self.enhance.isChecked(),
            enhance_blend=self._enhance_blend,
            faces=faces,
            reference=reference if faces == "reference" else None,
            source_face=None if self.source_face.value() < 0 else self.source_face.value(),
            trim=[self.trim_start.value(), self.trim_end.value()] if self.trim.isChecked() else None,
            quality=None if self.quality.value() < 0 else self.quality.value(),
            encoder=str(self.encoder.currentData()),
            audio=self.audio.isChecked(),
            overwrite=self.overwrite.isChecked(),
            models=self.models,
        )

    def validate(self) -> JobSpec | None:
        args = self.namespace()
        if not args.sources:
            self.error.setText("add at least one source face photo")
            return None
        if not args.targets:
            self.error.setText("add at least one target image or video")
            return None
        if not args.output:
            self.error.setText("choose where to save the result")
            return None
        try:
            spec = spec_from_args(args)
            check_runnable(spec)  # a job that could never run is refused here, not failed later
        except Exception as error:  # InputError / ModelError from the shared checks: one line, with the fix
            self.error.setText(error.one_line() if hasattr(error, "one_line") else str(error))
            return None
        self.error.setText("")
        return spec

    def accept(self) -> None:
        spec = self.validate()
        if spec is None:
            return
        self.spec = spec  # the runner creates the output folder when it writes
        super().accept()
