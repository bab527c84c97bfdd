"""Geometry the user sees: nothing cut, nothing wrapped apart, at the sizes people run the studio."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel

from app.devices.virtual_camera import VirtualCameraStatus
from app.gui.health_panel import HealthPanel
from app.monitor.gpu import GpuReport
from app.pipeline.api import LiveStats, SessionState
from gui_support import shown_text, studio

LONG_GPU_REASON = ("no NVIDIA driver found: the NVML library is missing (libnvidia-ml.so.1); install the NVIDIA "
                   "driver, or run on the CPU")


def clipped(label: QLabel) -> bool:
    """True when the label cannot show all of its text in the room it has."""
    metrics = label.fontMetrics()
    if label.wordWrap():
        return label.height() < label.heightForWidth(label.width())
    return metrics.horizontalAdvance(label.text()) > label.width() or label.height() < metrics.height()


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def test_the_jobs_table_fits_its_view_at_1440x900(qtbot, kit_dir: Path) -> None:
    with studio(qtbot, kit_dir) as window:
        window.resize(1440, 900)
        window.tabs.setCurrentWidget(window.jobs_tab)
        settle()
        table = window.jobs_tab.table
        header = table.horizontalHeader()
        assert not table.horizontalScrollBar().isVisible()
        assert header.length() <= table.viewport().width()
        for column in range(header.count()):  # every title whole ("Message", never "Mes")
            title = str(table.model().headerData(column, header.orientation()))
            assert header.sectionSize(column) >= header.fontMetrics().horizontalAdvance(title), title


def test_a_stage_colour_stays_on_the_line_of_its_stage(qtbot) -> None:
    panel = HealthPanel()
    qtbot.addWidget(panel)
    stages = {"capture": 32.1, "wait": 9.4, "process": 31.9, "out:preview": 0.4, "detect": 19.8, "align": 1.5,
              "swap": 5.9, "paste": 4.3}
    panel.show_stats(LiveStats(SessionState.RUNNING, frames=10, stages_ms=stages))
    for width in range(180, 420, 7):  # wherever the lines happen to break
        document = QTextDocument()
        document.setDefaultFont(panel.legend.font())
        document.setHtml(panel.legend.text())
        document.setTextWidth(width)
        text = document.toRawText()  # keeps the no-break spaces, one character per text position
        document.size()  # lays the text out
        layout = document.firstBlock().layout()
        assert layout.lineCount() > 1  # narrow enough to wrap
        for stage, ms in stages.items():
            found = re.search(rf"■\s{re.escape(stage)}\s{ms:.1f}", text)
            assert found is not None, (stage, text)
            square, value_end = found.start(), found.end() - 1
            line = layout.lineForTextPosition(square).lineNumber()
            assert line >= 0 and line == layout.lineForTextPosition(value_end).lineNumber(), (width, stage)


def test_at_1280x720_the_gpu_and_virtual_camera_texts_are_one_whole_line(qtbot, kit_dir: Path) -> None:
    with studio(qtbot, kit_dir, read_gpu=lambda: GpuReport((), LONG_GPU_REASON)) as window:
        window.resize(1280, 720)
        qtbot.waitUntil(lambda: window.system.readings >= 1, timeout=20000)
        panel = window.live_panel
        panel.outputs.set_virtual_camera_status(VirtualCameraStatus(
            False, None, None, None, problem="no virtual camera: the v4l2loopback kernel module is not installed",
            fix="sudo /opt/swapcast/installers/linux/setup_v4l2loopback.sh"))
        settle()
        gpu, vcam = window.system.gpu_name, panel.outputs.vcam_label
        for label in (gpu, vcam):
            assert not clipped(label), label.text()
            assert label.height() < 2 * label.fontMetrics().lineSpacing()  # one line, not three
        # Whatever did not fit is in the tooltip, whole.
        assert LONG_GPU_REASON in gpu.toolTip()
        assert "setup_v4l2loopback.sh" in vcam.toolTip() and "not installed" in vcam.toolTip()


def test_the_same_photo_twice_is_one_face_not_two(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    photo = kit_dir / "samples" / "source_a.png"
    renamed = tmp_path / "me.png"
    shutil.copy(photo, renamed)
    with studio(qtbot, kit_dir) as window:
        gallery = window.sources
        gallery.add_photos([photo])
        gallery.add_photos([photo, renamed])  # again, and the same bytes under another name
        gallery.add_photos([renamed], into=0)
        assert [(i.name, len(i.photos)) for i in gallery.identities] == [("source_a", 1)]
        assert "me.png is already in the gallery as 1 · source_a" in shown_text(gallery)
        gallery.add_photos([kit_dir / "samples" / "source_b.png"])  # the next add: the notice goes
        assert len(gallery.identities) == 2 and "already in the gallery" not in shown_text(gallery)
