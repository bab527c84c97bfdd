"""Single widgets on their own: the camera picker, drag-and-drop into the gallery, health levels."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.devices.cameras import CameraInfo, CameraMode
from app.devices.virtual_camera import VirtualCameraStatus
from app.gui.engine_service import EngineService
from app.gui.health_panel import HealthPanel, overall_level
from app.gui.live_controller import LiveController
from app.gui.live_panel import LivePanel
from app.gui.settings import LivePrefs, StudioSettings
from app.gui.sources_panel import SourcesPanel
from app.gui.tasks import BackgroundTasks
from app.pipeline.api import SessionState
from engines.base import EngineHealth, HealthState, ModelHealth
from engines.testing.speech import speech_like, write_wav


def test_camera_picker_lists_names_sizes_and_fps(qtbot, kit_dir: Path) -> None:
    tasks = BackgroundTasks()
    panel = LivePanel(LiveController(tasks), LivePrefs(camera="/dev/video2", size=(640, 480)))
    qtbot.addWidget(panel)
    panel.set_cameras([
        CameraInfo(0, "/dev/video0", "Built-in", modes=(CameraMode("YUYV", 1280, 720, (30.0,)),)),
        CameraInfo(2, "/dev/video2", "Logitech C920", modes=(CameraMode("MJPG", 1920, 1080, (30.0,)),
                                                             CameraMode("YUYV", 640, 480, (30.0, 15.0)))),
        CameraInfo(4, "/dev/video4", "Capture card", status="busy: used by obs (pid 42)"),
    ])
    labels = [panel.camera_combo.itemText(i) for i in range(panel.camera_combo.count())]
    assert labels[:3] == ["Built-in (/dev/video0)", "Logitech C920 (/dev/video2)",
                          "Capture card (/dev/video4) — busy: used by obs (pid 42)"]
    assert labels[-1] == "Video file…"
    # The remembered camera and size are picked again; sizes come from the camera's modes.
    assert panel.choices().camera == "/dev/video2" and panel.choices().size == (640, 480)
    sizes = [panel.size_combo.itemText(i) for i in range(panel.size_combo.count())]
    assert sizes == ["native size", "1920×1080 @ 30", "640×480 @ 30"]
    panel.use_video_file(kit_dir / "samples" / "target.mp4")
    assert panel.choices().camera == str((kit_dir / "samples" / "target.mp4").resolve())
    outputs = panel.outputs
    outputs.set_virtual_camera_status(VirtualCameraStatus(False, None, None, None, problem="v4l2loopback is not loaded",
                                                          fix="sudo modprobe v4l2loopback"))
    assert "v4l2loopback is not loaded" in outputs.vcam_label.full_text and "modprobe" in outputs.vcam_label.full_text
    outputs.set_virtual_camera_status(VirtualCameraStatus(True, "v4l2loopback", "/dev/video10", "SwapCast"))
    outputs.vcam_check.setChecked(True)
    assert outputs.vcam_label.full_text == "will send to SwapCast on /dev/video10"
    tasks.close()


def test_lip_sync_and_its_audio_file_are_remembered(qtbot, tmp_path: Path) -> None:
    speech = write_wav(tmp_path / "speech.wav", speech_like(1.0, [(0.2, 0.6)]))
    tasks = BackgroundTasks()
    panel = LivePanel(LiveController(tasks), LivePrefs())
    qtbot.addWidget(panel)
    panel.use_audio_file(speech)
    panel.lip_check.setChecked(True)
    StudioSettings().set_live(panel.prefs())  # as the studio does when it closes
    saved = StudioSettings().live()
    assert (saved.lip_sync, saved.audio_in) == (True, str(speech))
    again = LivePanel(LiveController(tasks), saved)  # the next run
    qtbot.addWidget(again)
    again.restore(saved)
    assert again.choices().lip_sync and again.choices().audio_in == str(speech)
    speech.unlink()  # a file that has gone is not offered again
    gone = LivePanel(LiveController(tasks), saved)
    qtbot.addWidget(gone)
    gone.restore(saved)
    assert gone.choices().audio_in != str(speech)
    assert all(gone.audio_combo.itemData(i) != str(speech) for i in range(gone.audio_combo.count()))
    tasks.close()


def _drop(widget, files: list[Path], at: QPointF) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    event = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def test_dropping_photos_adds_faces_or_joins_the_face_under_the_cursor(qtbot, kit_dir: Path) -> None:
    tasks = BackgroundTasks()
    panel = SourcesPanel(tasks, EngineService(tasks, kit_dir))  # engine not loaded: photos wait for it
    qtbot.addWidget(panel)
    panel.resize(300, 600)
    panel.show()
    samples = kit_dir / "samples"
    _drop(panel.list, [samples / "source_a.png", kit_dir / "manifest.json"], QPointF(150, 550))
    assert [i.name for i in panel.identities] == ["source_a"]  # only images are taken
    assert panel.busy  # checked once the engine is ready
    first = panel.list.visualItemRect(panel.list.item(0)).center()
    _drop(panel.list, [samples / "source_b.png"], QPointF(first))
    assert len(panel.identities) == 1 and len(panel.identities[0].photos) == 2
    tasks.close()


def test_health_levels() -> None:
    ok = ModelHealth("det_10g", "detector", True, "CPUExecutionProvider")
    fallback = ModelHealth("inswapper_128", "swapper", True, "CPUExecutionProvider",
                           requested=("CUDAExecutionProvider", "CPUExecutionProvider"),
                           fallback_reason="CUDA failed to load: libcudnn.so.9 not found")
    assert overall_level(None, None) == "idle"
    assert overall_level(EngineHealth(HealthState.OK, (ok,)), SessionState.RUNNING) == "ok"
    assert overall_level(EngineHealth(HealthState.OK, (ok, fallback)), SessionState.RUNNING) == "degraded"
    assert overall_level(EngineHealth(HealthState.DEGRADED, (ok,)), SessionState.RUNNING) == "degraded"
    assert overall_level(EngineHealth(HealthState.OK, (ok,)), SessionState.FAILED) == "down"
    assert overall_level(None, None, engine_failed=True) == "down"


def test_health_panel_shows_a_fallback_loudly(qtbot) -> None:
    panel = HealthPanel()
    qtbot.addWidget(panel)
    health = EngineHealth(HealthState.OK, (ModelHealth("inswapper_128", "swapper", True, "CPUExecutionProvider",
                                                       fallback_reason="no CUDA device"),), frames=3)
    panel.show_engine(health, "ready", "")
    assert panel.level == "degraded" and panel.badge.text() == "DEGRADED"
    assert panel.models.item(0, 2).text() == "CPU"
    assert panel.models.item(0, 3).text() == "fallback: no CUDA device"
