"""The studio window: it opens, the consent notice gates first use, settings and sources persist."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.gui.settings import StudioSettings
from app.monitor.gpu import GpuReport
from gui_support import health_roles, make_window, studio, wait_engine


def test_window_opens_with_its_views_and_panels(qtbot, kit_dir: Path) -> None:
    with studio(qtbot, kit_dir, list_devices=True, read_gpu=lambda: GpuReport((), "no NVIDIA GPU here")) as window:
        tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        assert tabs == ["Live", "Jobs", "Models"]
        for dock in (window.sources_dock, window.health_dock, window.system_dock):
            assert dock.isVisible()
        assert window.usable
        wait_engine(qtbot, window)
        # The engine health panel shows the loaded models even before a session runs.
        qtbot.waitUntil(lambda: window.health.level == "ok", timeout=20000)
        # The three models a swap needs (a lip syncer loaded by an earlier session may be listed too).
        assert {"detector", "recognizer", "swapper"} <= health_roles(window)
        assert "CPU" in window.status_bar.engine_label.text()
        # The system panel refreshes from a worker: a reading arrives, and says there is no GPU.
        qtbot.waitUntil(lambda: window.system.readings >= 1, timeout=20000)
        assert "no NVIDIA GPU" in window.system.gpu_name.full_text
        # Models: the kit's files are all verified, so the window stays on Live.
        qtbot.waitUntil(lambda: window.models_tab.report is not None, timeout=20000)
        assert window.models_tab.report.missing_required == []
        assert window.tabs.currentWidget() is window.live_panel
        # The camera list was read off the GUI thread; "Video file…" is always offered.
        qtbot.waitUntil(lambda: window.live_panel.outputs.vcam_label.full_text != "checking…", timeout=20000)
        combo = window.live_panel.camera_combo
        assert combo.itemText(combo.count() - 1) == "Video file…"


def test_consent_notice_gates_first_use(qtbot, kit_dir: Path) -> None:
    with studio(qtbot, kit_dir, accept=False) as window:
        dialog = window.consent_dialog
        assert dialog is not None and dialog.isVisible()
        assert not window.usable and not window.tabs.isEnabled()
        assert not window.start_live()  # nothing starts behind the notice
        assert window.engine.engine is None  # not even the models load
        assert not dialog.accept_button.isEnabled()  # a deliberate tick first
        dialog.accept_button.click()
        assert dialog.isVisible()
        dialog.agree.setChecked(True)
        dialog.accept_button.click()
        assert not dialog.isVisible()
        assert window.usable and window.tabs.isEnabled()
        wait_engine(qtbot, window)
    assert StudioSettings().consent_accepted  # remembered: the next start does not ask
    with studio(qtbot, kit_dir, accept=False) as again:
        assert again.consent_dialog is None and again.usable


def test_declining_the_notice_closes_the_studio(qtbot, kit_dir: Path) -> None:
    window = make_window(qtbot, kit_dir, accept=False)
    window.consent_dialog.decline_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    assert window._closed
    assert not StudioSettings().consent_accepted


def test_settings_are_remembered(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        dialog = window.open_settings()
        dialog.provider.setCurrentIndex(dialog.provider.findData("cpu"))
        dialog.det_size.setCurrentIndex(dialog.det_size.findData(320))
        dialog.blend.setValue(55)
        dialog.output_dir.setText(str(tmp_path / "renders"))
        dialog.hotkeys["bypass"].setKeySequence("X")
        dialog.accept()
        assert window.prefs.det_size == 320
        assert window.hotkeys.shortcuts["bypass"].key().toString() == "X"
        assert window.live_panel.outputs.record_dir == tmp_path / "renders"
        wait_engine(qtbot, window)  # reloaded with the new options
    prefs = StudioSettings().preferences()
    assert (prefs.provider, prefs.det_size, prefs.enhance_blend) == ("cpu", 320, 0.55)
    assert prefs.output_dir == tmp_path / "renders"
    assert prefs.hotkeys["bypass"] == "X"


def test_sources_gallery_picks_faces_switches_and_remembers(qtbot, kit_dir: Path) -> None:
    samples = kit_dir / "samples"
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        gallery = window.sources
        with qtbot.waitSignal(gallery.pickerOpened, timeout=20000) as opened:
            gallery.add_photos([samples / "source_a.png", samples / "target_two.png"])
        picker = opened.args[0]
        assert len(picker.faces) == 2  # the engine's detector found both people
        picker.choose(1)  # the right-hand face
        qtbot.waitUntil(lambda: not gallery.busy, timeout=20000)
        second = gallery.identities[1]
        assert second.photos[0].parent == gallery.crops_dir  # the chosen face, saved on its own
        assert second.name.endswith("#2")
        # Another photo of the same person joins the active identity instead of adding one.
        gallery.set_active(0)
        gallery.add_photos([samples / "source_b.png"], into=0)
        qtbot.waitUntil(lambda: not gallery.busy, timeout=20000)
        assert len(gallery.identities) == 2 and len(gallery.identities[0].photos) == 2
        # A photo without a face is kept but flagged, and left out of what the pipeline gets.
        blank = kit_dir / "blank.png"
        if not blank.exists():
            from engines.imaging import write_image_atomic
            from engines.testing.synthetic_face import plain_background

            write_image_atomic(blank, plain_background(200, 200))
        gallery.add_photos([blank])
        qtbot.waitUntil(lambda: not gallery.busy, timeout=20000)
        assert gallery.identities[2].problems == {blank: "no face found"}
        assert len(gallery.groups()) == 2
        gallery.remove(2)
        # Hotkeys 1–9 switch the active face; it is the highlighted (current) item.
        with qtbot.waitActive(window):  # the picker had the focus; shortcuts need the window active
            window.activateWindow()
        qtbot.keyClick(window, Qt.Key.Key_2)
        assert gallery.active == 1 and gallery.list.currentRow() == 1
        assert gallery.list.item(1).font().bold() and not gallery.list.item(0).font().bold()
        qtbot.keyClick(window, Qt.Key.Key_1)
        assert gallery.active == 0
        gallery.set_active(1)
        expected = [(i.name, list(i.photos)) for i in gallery.identities]
    # The next run shows the same gallery, with the same face active.
    with studio(qtbot, kit_dir) as again:
        assert [(i.name, list(i.photos)) for i in again.sources.identities] == expected
        assert again.sources.active == 1
    QApplication.processEvents()


def test_run_gui_runs_the_qasync_loop_until_the_window_closes(qtbot, kit_dir: Path) -> None:
    import argparse

    from PySide6.QtCore import QTimer

    from app.gui.launch import run_gui
    from app.gui.main_window import StudioWindow

    StudioSettings().accept_consent()
    opened: list[StudioWindow] = []

    def close_it() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, StudioWindow) and w.isVisible()]
        opened.extend(windows)
        for window in windows:
            window.close()

    QTimer.singleShot(1500, close_it)
    assert run_gui(argparse.Namespace(models=kit_dir)) == 0
    assert opened and opened[0].models == kit_dir and opened[0]._closed


def test_opencv_does_not_point_qt_at_its_own_plugins(qtbot, monkeypatch) -> None:
    # opencv-python sets these on import to its bundled Qt; PySide6's Qt then finds cv2's xcb
    # plugin first, cannot load it, and the studio does not open on an X11 desktop.
    import cv2

    from app.gui.launch import make_app

    plugins = Path(cv2.__file__).parent / "qt" / "plugins"
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(plugins))
    monkeypatch.setenv("QT_QPA_FONTDIR", str(plugins.parent / "fonts"))
    make_app()
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in __import__("os").environ
    assert "QT_QPA_FONTDIR" not in __import__("os").environ
