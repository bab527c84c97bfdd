"""Live in the window: the sample video played as the camera, through the real LiveSession and the
generated models, shows swapped frames in the preview; bypass turns the swap off and on again."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QApplication

from app.gui.live_view import PreviewWidget
from app.pipeline.api import SessionState
from gui_support import coral_fraction, health_roles, studio, wait_engine

SWAPPED = 0.01  # a swapped frame is ~5 % coral skin (the face); an unswapped one ~0.0005 %
UNSWAPPED = 0.001


def test_live_on_a_video_file_shows_swapped_frames_and_bypass_toggles(qtbot, kit_dir: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    samples = kit_dir / "samples"
    painted_on: set[bool] = set()
    show_frame = PreviewWidget.show_frame

    def spy(self: PreviewWidget, image, captured_at: float) -> None:  # type: ignore[no-untyped-def]
        painted_on.add(QThread.currentThread() is QApplication.instance().thread())
        show_frame(self, image, captured_at)

    monkeypatch.setattr(PreviewWidget, "show_frame", spy)
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        window.sources.add_photos([samples / "source_a.png"])
        qtbot.waitUntil(lambda: not window.sources.busy, timeout=20000)
        window.live_panel.use_video_file(samples / "target.mp4")
        window.live_panel.start_button.click()
        assert window.live.running and window.live_panel.start_button.text() == "Stop"
        preview = window.live_panel.preview

        # Swapped frames (the source's coral skin) reach the preview within a few seconds.
        qtbot.waitUntil(lambda: coral_fraction(preview.image) > SWAPPED, timeout=20000)
        assert preview.image.width() == 1280 and preview.image.height() == 720
        qtbot.waitUntil(lambda: window.health.level == "ok" and window.live.state is SessionState.RUNNING,
                        timeout=20000)
        qtbot.waitUntil(lambda: preview.overlay.fps > 5, timeout=20000)
        assert "fps" in preview.overlay.lines()[0]
        # The three models a swap needs (a lip syncer loaded by an earlier session may be listed too).
        assert {"detector", "recognizer", "swapper"} <= health_roles(window)
        assert window.health.plot.history  # per-stage history is being drawn
        assert painted_on == {True}  # frames are painted on the GUI thread only
        assert threading.current_thread() is threading.main_thread()

        # Bypass from its hotkey (B by default): the camera passes through unchanged...
        with qtbot.waitActive(window):
            window.activateWindow()
        qtbot.keyClick(window, Qt.Key.Key_B)
        assert not window.live_panel.swap_check.isChecked()
        qtbot.waitUntil(lambda: window.live.last_stats is not None and window.live.last_stats.bypass, timeout=20000)
        qtbot.waitUntil(lambda: coral_fraction(preview.image) < UNSWAPPED, timeout=20000)
        qtbot.waitUntil(lambda: "BYPASS" in " ".join(preview.overlay.lines()), timeout=20000)
        # ...and swapping again brings the source back.
        window.live_panel.swap_check.setChecked(True)
        qtbot.waitUntil(lambda: coral_fraction(preview.image) > SWAPPED, timeout=20000)

        # Reference mode: only faces that look like the reference photos are swapped.
        lime_only = samples / "source_b.png"  # a person who is not in the video
        window.live_panel.set_references((lime_only,))
        window.live_panel.face_combo.setCurrentIndex(window.live_panel.face_combo.findData("reference"))
        qtbot.waitUntil(lambda: window.live.last_stats.face_mode == "reference", timeout=20000)
        qtbot.waitUntil(lambda: coral_fraction(preview.image) < UNSWAPPED, timeout=20000)
        video_face = tmp_path / "video_face.png"
        import cv2

        capture = cv2.VideoCapture(str(samples / "target.mp4"))
        ok, frame = capture.read()
        capture.release()
        assert ok and cv2.imwrite(str(video_face), frame)
        window.live_panel.set_references((video_face,))  # now the person in the video
        qtbot.waitUntil(lambda: coral_fraction(preview.image) > SWAPPED, timeout=20000)
        window.live_panel.face_combo.setCurrentIndex(window.live_panel.face_combo.findData("largest"))

        # Mirror reaches the session; the virtual camera's own state is shown (here: unavailable, why).
        window.live_panel.mirror_check.setChecked(True)
        qtbot.waitUntil(lambda: window.live.last_stats.mirror, timeout=20000)
        outputs = window.live_panel.outputs
        outputs.vcam_check.setChecked(True)

        def vcam_shown() -> bool:
            output = next((o for o in window.live.last_stats.outputs if o.name == "virtual camera"), None)
            return output is not None and outputs.vcam_label.full_text == (output.detail or output.state)

        qtbot.waitUntil(vcam_shown, timeout=20000)
        # Record a second of the swapped feed into the output folder.
        outputs.record_dir = tmp_path
        outputs.record_button.setChecked(True)
        qtbot.waitUntil(lambda: any(o.name == "recording" and o.frames_sent > 10
                                    for o in window.live.last_stats.outputs), timeout=20000)
        outputs.record_button.setChecked(False)

        # Stop: the session's threads are joined off the GUI thread, and the window says so.
        frames_live = window.live.last_stats.frames
        window.live_panel.start_button.click()
        qtbot.waitUntil(lambda: window.live.state is SessionState.STOPPED, timeout=20000)
        # The session's frame count stays on the health panel; it does not fall back at Stop.
        shown = window.health.frames_label.text()
        assert "last session" in shown and int(shown.split(" / ")[0]) >= frames_live > 0
        assert not window.live.running
        assert window.live_panel.start_button.text() == "Start"
        assert window.live.preview.dropped >= 0  # frames the GUI could not paint were dropped, never queued
        recordings = list(tmp_path.glob("live-*.mp4"))
        assert len(recordings) == 1 and recordings[0].stat().st_size > 0


def test_live_start_explains_what_is_missing(qtbot, kit_dir: Path) -> None:
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        assert not window.start_live()
        assert "source face" in window.live_panel.status_label.text()
        window.sources.add_photos([kit_dir / "samples" / "source_a.png"])
        qtbot.waitUntil(lambda: not window.sources.busy, timeout=20000)
        missing = kit_dir / "no-such-video.mp4"
        window.live_panel.use_video_file(missing)  # not a file: not offered as a camera
        assert window.live_panel.choices().camera != str(missing)
        # A camera the pipeline cannot open ends as FAILED with its reason, without a crash.
        window.live_panel.use_video_file(kit_dir / "manifest.json")
        assert window.start_live()
        qtbot.waitUntil(lambda: window.live.state is SessionState.FAILED, timeout=20000)
        qtbot.waitUntil(lambda: not window.live.running, timeout=20000)
        assert window.health.level == "down" or window.live.state is SessionState.FAILED
        assert window.live_panel.status_label.text().startswith("Failed")
