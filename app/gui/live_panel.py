"""The Live view: camera picker, Start/Stop, the preview, the live toggles and the outputs.

The panel only turns user actions into LiveController calls and shows what the controller
observes; it never talks to pipeline threads itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget,
)

from app.paths import user_paths
from app.pipeline.api import LiveStats, OutputStatus, SessionState
from engines.base import LIVE_FACE_SELECTIONS, FaceSelection

from .elided_label import ElidedLabel
from .live_controller import LiveController
from .lip_sync_box import LipSyncBox
from .live_view import Overlay, PreviewWidget
from .qt_compat import emit
from .settings import LivePrefs

if TYPE_CHECKING:
    from app.devices.cameras import CameraInfo
    from app.devices.virtual_camera import VirtualCameraStatus

VIDEO_FILE_ITEM = "__video_file__"
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((1920, 1080), (1280, 720), (640, 480))
FACE_MODE_LABELS: dict[FaceSelection, str] = {
    FaceSelection.LARGEST: "Largest face",
    FaceSelection.ALL: "All faces",
    FaceSelection.POSITION: "Face number…",
    FaceSelection.REFERENCE: "Faces that look like…",
}
FACE_MODES: tuple[tuple[str, str], ...] = tuple((mode.value, FACE_MODE_LABELS[mode]) for mode in LIVE_FACE_SELECTIONS)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"


@dataclass(frozen=True)
class LiveChoices:
    """Everything the panel contributes to a LiveConfig."""

    camera: str
    size: tuple[int, int] | None
    fps: float
    bypass: bool
    mirror: bool
    enhance: bool
    mouth_mask: bool
    face_mode: str
    position: int  # face_mode "position": 0 = left-most
    references: tuple[Path, ...]  # face_mode "reference"
    virtual_cam: bool
    stream_url: str | None
    record_path: Path | None
    lip_sync: bool = False  # the mouth follows `audio_in` (a device index or an audio file)
    audio_in: str | None = None


class LivePanel(QWidget):
    startRequested = Signal()
    stopRequested = Signal()

    def __init__(self, controller: LiveController, prefs: LivePrefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.record_dir = user_paths().outputs
        self._cameras: list[CameraInfo] = []
        self._vcam_status: VirtualCameraStatus | None = None
        self._outputs: dict[str, OutputStatus] = {}
        self._recording_to: Path | None = None  # the file of the recording in progress
        self._wanted_camera = ""
        self._wanted_size: tuple[int, int] | None = None
        self._blocker: str | None = None  # why Start cannot work now (the engine is down), or None

        # ---- source row: camera, size, fps, Start -------------------------------------------------
        self.camera_combo = QComboBox(self)
        self.camera_combo.setObjectName("cameraCombo")
        self.camera_combo.setMinimumContentsLength(24)
        self.camera_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size_combo = QComboBox(self)
        self.fps_spin = QDoubleSpinBox(self)
        self.fps_spin.setRange(1.0, 120.0)
        self.fps_spin.setDecimals(0)
        self.fps_spin.setSuffix(" fps")
        self.start_button = QPushButton("Start", self)
        self.start_button.setObjectName("startButton")
        self.start_button.setMinimumWidth(96)
        self.start_button.clicked.connect(self._start_clicked)
        top = QHBoxLayout()
        top.addWidget(QLabel("Camera", self))
        top.addWidget(self.camera_combo, 3)
        top.addWidget(self.size_combo, 1)
        top.addWidget(self.fps_spin)
        top.addWidget(self.start_button)

        # ---- the preview --------------------------------------------------------------------------
        self.preview = PreviewWidget(self)
        controller.preview.frameReady.connect(self.preview.show_frame)
        self.status_label = QLabel("Stopped", self)
        self.status_label.setObjectName("liveStatus")
        self.status_label.setWordWrap(True)

        # ---- toggles --------------------------------------------------------------------------------
        self.swap_check = QCheckBox("Swap", self)
        self.swap_check.setObjectName("swapToggle")
        self.swap_check.setToolTip("Off = bypass: the camera passes through unchanged")
        self.mirror_check = QCheckBox("Mirror", self)
        self.enhance_check = QCheckBox("Enhancer", self)
        self.mouth_check = QCheckBox("Mouth mask", self)
        self.mouth_check.setToolTip("Keep the camera's own mouth, so speech looks natural")
        self.face_combo = QComboBox(self)
        for value, label in FACE_MODES:
            self.face_combo.addItem(label, value)
        toggles = QGroupBox("Swap", self)
        toggle_row = QHBoxLayout(toggles)
        for widget in (self.swap_check, self.mirror_check, self.enhance_check, self.mouth_check):
            toggle_row.addWidget(widget)
        self.position_spin = QSpinBox(self)
        self.position_spin.setRange(1, 20)
        self.position_spin.setPrefix("#")
        self.position_spin.setToolTip("Which face, counted from the left")
        self.reference_button = QPushButton("Reference photos…", self)
        self.reference_button.setToolTip("Only faces that look like the people in these photos are swapped")
        self._references: tuple[Path, ...] = ()
        toggle_row.addWidget(QLabel("Faces", self))
        toggle_row.addWidget(self.face_combo)
        toggle_row.addWidget(self.position_spin)
        toggle_row.addWidget(self.reference_button)
        toggle_row.addStretch(1)

        # ---- lip sync: the mouth follows a microphone or an audio file (applies when a session starts)
        self.lip_sync = LipSyncBox(self)
        # The group's parts, as the studio and its tests reach them.
        self.lip_check, self.audio_combo, self.audio_label = self.lip_sync.check, self.lip_sync.combo, self.lip_sync.label
        self.set_audio_inputs, self.use_audio_file = self.lip_sync.set_audio_inputs, self.lip_sync.use_audio_file

        # ---- outputs --------------------------------------------------------------------------------
        outputs = QGroupBox("Outputs", self)
        grid = QGridLayout(outputs)
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

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(toggles)
        layout.addWidget(self.lip_sync)
        layout.addWidget(outputs)

        self.restore(prefs)
        # Connected after restoring, so restoring does not send controls to a session.
        self.camera_combo.activated.connect(self._camera_activated)
        self.camera_combo.currentIndexChanged.connect(lambda _i: self._fill_sizes())
        self.swap_check.toggled.connect(lambda on: self.controller.set_bypass(not on))
        self.mirror_check.toggled.connect(self.controller.set_mirror)
        self.enhance_check.toggled.connect(self.controller.set_enhance)
        self.mouth_check.toggled.connect(self.controller.set_mouth_mask)
        self.face_combo.currentIndexChanged.connect(self._face_mode_changed)
        self.position_spin.valueChanged.connect(lambda value: self.controller.set_position(value - 1))
        self.reference_button.clicked.connect(self._pick_references)
        self.vcam_check.toggled.connect(self._vcam_toggled)
        self.stream_button.toggled.connect(self._stream_toggled)
        self.record_button.toggled.connect(self._record_toggled)
        controller.stateChanged.connect(self.show_state)
        controller.statsChanged.connect(self.show_stats)
        self.show_state(SessionState.STOPPED.value, "")

    # ---- settings ------------------------------------------------------------------------------
    def restore(self, prefs: LivePrefs) -> None:
        # The remembered camera and size may only be listed later (cameras are read on a worker).
        self._wanted_camera, self._wanted_size = prefs.camera, prefs.size
        self._fill_cameras(prefs.camera)
        self._fill_sizes(prefs.size)
        self.fps_spin.setValue(prefs.fps)
        self.swap_check.setChecked(True)  # a new run always starts swapping
        self.mirror_check.setChecked(prefs.mirror)
        self.enhance_check.setChecked(prefs.enhance)
        index = self.face_combo.findData(prefs.face_mode)
        self.face_combo.setCurrentIndex(max(0, index))
        self.position_spin.setValue(prefs.position + 1)
        self._references = tuple(p for p in prefs.references if p.is_file())
        self._show_face_mode()
        self.vcam_check.setChecked(prefs.virtual_cam)
        self.stream_edit.setText(prefs.stream_url)
        self.lip_sync.restore(prefs.lip_sync, prefs.audio_in)

    def prefs(self) -> LivePrefs:
        choices = self.choices()
        return LivePrefs(camera=choices.camera, size=choices.size, fps=choices.fps, mirror=choices.mirror,
                         enhance=choices.enhance, face_mode=choices.face_mode, position=choices.position,
                         references=choices.references, virtual_cam=choices.virtual_cam,
                         stream_url=self.stream_edit.text().strip(), lip_sync=self.lip_sync.wanted(),
                         audio_in=self.lip_sync.choice() or "")

    def choices(self) -> LiveChoices:
        camera = self.camera_combo.currentData()
        url = self.stream_edit.text().strip()
        size = self.size_combo.currentData()
        return LiveChoices(
            camera=str(camera) if camera and camera != VIDEO_FILE_ITEM else "",
            size=(int(size[0]), int(size[1])) if size else None,
            fps=float(self.fps_spin.value()),
            bypass=not self.swap_check.isChecked(),
            mirror=self.mirror_check.isChecked(),
            enhance=self.enhance_check.isChecked(),
            mouth_mask=self.mouth_check.isChecked(),
            face_mode=str(self.face_combo.currentData()),
            position=self.position_spin.value() - 1,
            references=self._references,
            virtual_cam=self.vcam_check.isChecked(),
            stream_url=url if self.stream_button.isChecked() and url else None,
            record_path=self._record_path if self.record_button.isChecked() else None,
            lip_sync=self.lip_sync.wanted() and self.lip_sync.choice() is not None,
            audio_in=self.lip_sync.choice() if self.lip_sync.wanted() else None,
        )

    # ---- cameras ---------------------------------------------------------------------------------
    def set_cameras(self, cameras: list[CameraInfo]) -> None:
        """The cameras found on this machine (listed on a worker thread)."""
        self._cameras = list(cameras)
        current = self.camera_combo.currentData()
        chosen = str(current) if current and current != VIDEO_FILE_ITEM else ""
        size = self.size_combo.currentData()
        if not chosen or chosen == self._wanted_camera:
            chosen, size = self._wanted_camera, self._wanted_size
        self._fill_cameras(chosen)
        self._fill_sizes(size)

    def _camera_spec(self, camera: CameraInfo) -> str:
        return camera.path or str(camera.index)

    def _fill_cameras(self, selected: str) -> None:
        combo = self.camera_combo
        combo.blockSignals(True)
        files = [combo.itemData(i) for i in range(combo.count())
                 if combo.itemData(i) not in (None, VIDEO_FILE_ITEM) and Path(str(combo.itemData(i))).is_file()]
        combo.clear()
        for camera in self._cameras:
            label = camera.label() if camera.usable else f"{camera.label()} — {camera.status}"
            combo.addItem(label, self._camera_spec(camera))
        if selected and Path(selected).is_file() and selected not in files:
            files.append(selected)
        for path in files:
            combo.addItem(f"▶ {Path(str(path)).name}", str(path))
        if not self._cameras and not files:
            combo.addItem("No camera found", "")
        combo.addItem("Video file…", VIDEO_FILE_ITEM)
        index = combo.findData(selected) if selected else -1
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)

    def _camera_activated(self, index: int) -> None:
        if self.camera_combo.itemData(index) == VIDEO_FILE_ITEM:
            path, _ = QFileDialog.getOpenFileName(self, "Play a video file as the camera", "", VIDEO_FILTER)
            if path:
                self.use_video_file(Path(path))
            else:
                self.camera_combo.setCurrentIndex(0)

    def use_video_file(self, path: Path) -> None:
        """Play a file as the camera (demos, tests, rehearsing a stream)."""
        self._fill_cameras(str(Path(path).resolve()))

    def _fill_sizes(self, selected: tuple[int, int] | None = None) -> None:
        if selected is None and self.size_combo.count():
            selected = self.size_combo.currentData()
        spec = self.camera_combo.currentData()
        camera = next((c for c in self._cameras if self._camera_spec(c) == spec), None)
        sizes = camera.sizes() if camera and camera.modes else list(DEFAULT_SIZES)
        self.size_combo.blockSignals(True)
        self.size_combo.clear()
        self.size_combo.addItem("native size", None)
        for width, height in sizes:
            fps = 0.0
            if camera is not None:
                fps = max((max(m.fps, default=0.0) for m in camera.modes if (m.width, m.height) == (width, height)),
                          default=0.0)
            suffix = f" @ {fps:g}" if fps else ""
            self.size_combo.addItem(f"{width}×{height}{suffix}", (width, height))
        # findData cannot compare tuples stored in a QVariant: look for the size by hand.
        sizes_listed = [self.size_combo.itemData(i) for i in range(self.size_combo.count())]
        wanted = tuple(selected) if selected else None
        index = next((i for i, data in enumerate(sizes_listed) if data is not None and tuple(data) == wanted), 0)
        self.size_combo.setCurrentIndex(index)
        self.size_combo.blockSignals(False)

    # ---- which faces ------------------------------------------------------------------------------
    def _face_mode_changed(self, _index: int) -> None:
        mode = str(self.face_combo.currentData())
        self._show_face_mode()
        if mode == "reference" and not self._references:
            self._pick_references()
        self.controller.set_face_mode(mode)

    def _show_face_mode(self) -> None:
        mode = self.face_combo.currentData()
        self.position_spin.setVisible(mode == "position")
        self.reference_button.setVisible(mode == "reference")
        count = len(self._references)
        self.reference_button.setText(f"{count} reference photo{'s' if count != 1 else ''}…" if count
                                      else "Reference photos…")

    def _pick_references(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Photos of the faces to replace", "", IMAGE_FILTER)
        if files:
            self.set_references(tuple(Path(f) for f in files))

    def set_references(self, photos: tuple[Path, ...]) -> None:
        self._references = tuple(Path(p).resolve() for p in photos)
        self._show_face_mode()
        self.controller.set_references(self._references)

    # ---- virtual camera --------------------------------------------------------------------------
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
    def show_state(self, state: str, message: str) -> None:
        running = state in (SessionState.STARTING.value, SessionState.RUNNING.value)
        stopping = state == SessionState.STOPPING.value
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setEnabled(not stopping and (running or self._blocker is None))
        # What a session fixes at start cannot change while it runs.
        for widget in (self.camera_combo, self.size_combo, self.fps_spin):
            widget.setEnabled(not running and not stopping)
        words = {"starting": "Starting", "running": "Live", "stopping": "Stopping", "stopped": "Stopped",
                 "failed": "Failed"}
        text = words.get(state, state)
        self.status_label.setText(f"{text}: {message}" if message and message.lower() != text.lower() else text)
        colour = "#c0392b" if state == SessionState.FAILED.value else "palette(text)"
        self.status_label.setStyleSheet(f"color: {colour};")
        if not running:
            self._outputs = {}
            overlay_note = "not running" if state != SessionState.FAILED.value else "failed"
            self.preview.set_overlay(Overlay(note=overlay_note))
        self._show_outputs()

    def set_readiness(self, blocker: str | None, hint: str) -> None:
        """`blocker`: why Start cannot work (Start is off and says why); `hint`: the preview's text."""
        self._blocker = blocker
        self.start_button.setToolTip(blocker or "")
        running = self.controller.running
        stopping = self.controller.state is SessionState.STOPPING
        self.start_button.setEnabled(not stopping and (running or blocker is None))
        self.preview.set_placeholder(hint)

    def show_stats(self, stats: LiveStats) -> None:
        note = ""
        if stats.state is SessionState.STARTING:
            note = stats.message or "starting…"
        elif stats.message:
            note = stats.message
        self.preview.set_overlay(Overlay(fps=stats.fps_out, latency_ms=stats.latency_ms_p50,
                                         latency_p95_ms=stats.latency_ms_p95, bypass=stats.bypass, note=note))
        self.lip_sync.show_stats(stats)
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

    def show_controls(self, controls: dict[str, Any]) -> None:
        """Show a control state the session already has (changed over the remote-control API): the
        widgets follow it without telling the controller again."""
        boxes = {"swap": self.swap_check, "mirror": self.mirror_check, "enhancer": self.enhance_check,
                 "mouth_mask": self.mouth_check}
        for key, box in boxes.items():
            value = controls.get(key)
            if isinstance(value, bool) and box.isChecked() != value:
                with QSignalBlocker(box):
                    box.setChecked(value)
        mode = controls.get("face_mode")
        index = self.face_combo.findData(mode) if isinstance(mode, str) else -1
        if index >= 0 and index != self.face_combo.currentIndex():
            with QSignalBlocker(self.face_combo):  # "reference" must not open the file dialog here
                self.face_combo.setCurrentIndex(index)
            self._show_face_mode()
        position = controls.get("position")
        if isinstance(position, int):
            with QSignalBlocker(self.position_spin):
                self.position_spin.setValue(position + 1)

    # ---- hotkey helpers --------------------------------------------------------------------------
    def toggle(self, which: str) -> None:
        box = {"bypass": self.swap_check, "mirror": self.mirror_check, "enhance": self.enhance_check,
               "mouth_mask": self.mouth_check, "virtual_cam": self.vcam_check}[which]
        box.toggle()

    def _start_clicked(self) -> None:
        if self.controller.running:
            emit(self.stopRequested)
        else:
            emit(self.startRequested)
