"""The Live view: camera picker, Start/Stop, the preview, the live toggles, lip sync (lip_sync_box)
and the outputs (outputs_box).

The panel only turns user actions into LiveController calls and shows what the controller
observes; it never talks to pipeline threads itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox,
    QVBoxLayout, QWidget,
)

from app.pipeline.api import LiveStats, SessionState
from engines.base import LIVE_FACE_SELECTIONS, FaceSelection

from .live_choices import LiveChoices
from .live_controller import LiveController
from .lip_sync_box import LipSyncBox
from .live_view import Overlay, PreviewWidget
from .outputs_box import OutputsBox
from .qt_compat import emit
from .settings import LivePrefs

if TYPE_CHECKING:
    from app.devices.cameras import CameraInfo

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


class LivePanel(QWidget):
    startRequested = Signal()
    stopRequested = Signal()

    def __init__(self, controller: LiveController, prefs: LivePrefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._cameras: list[CameraInfo] = []
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

        # ---- outputs: virtual camera, stream, recording ---------------------------------------------
        self.outputs = OutputsBox(controller, self)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(toggles)
        layout.addWidget(self.lip_sync)
        layout.addWidget(self.outputs)

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
        self.outputs.restore(prefs.virtual_cam, prefs.stream_url)
        self.lip_sync.restore(prefs.lip_sync, prefs.audio_in)

    def prefs(self) -> LivePrefs:
        choices = self.choices()
        return LivePrefs(camera=choices.camera, size=choices.size, fps=choices.fps, mirror=choices.mirror,
                         enhance=choices.enhance, face_mode=choices.face_mode, position=choices.position,
                         references=choices.references, virtual_cam=choices.virtual_cam,
                         stream_url=self.outputs.stream_edit.text().strip(), lip_sync=self.lip_sync.wanted(),
                         audio_in=self.lip_sync.choice() or "")

    def choices(self) -> LiveChoices:
        camera = self.camera_combo.currentData()
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
            virtual_cam=self.outputs.vcam_check.isChecked(),
            stream_url=self.outputs.stream_url(),
            record_path=self.outputs.record_path(),
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
            overlay_note = "not running" if state != SessionState.FAILED.value else "failed"
            self.preview.set_overlay(Overlay(note=overlay_note))
        self.outputs.show_state(running)

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
        self.outputs.show_stats(stats)

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
               "mouth_mask": self.mouth_check, "virtual_cam": self.outputs.vcam_check}[which]
        box.toggle()

    def _start_clicked(self) -> None:
        if self.controller.running:
            emit(self.stopRequested)
        else:
            emit(self.startRequested)
