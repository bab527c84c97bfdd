"""The Models tab: present and verified, where to put files by hand, downloads with progress, and
the first run without models landing on it."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.gui.engine_service import EngineState
from gui_support import studio


@pytest.fixture
def served_kit(kit_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A models folder whose manifest lacks the enhancer file but names a local URL for it."""
    folder = tmp_path / "models"
    folder.mkdir()
    manifest = json.loads((kit_dir / "manifest.json").read_text())
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(kit_dir))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for entry in manifest["models"]:
        if entry["role"] == "enhancer":
            entry["urls"] = [f"http://127.0.0.1:{server.server_address[1]}/{entry['file']}"]
        else:
            shutil.copy(kit_dir / entry["file"], folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    try:
        yield folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_models_tab_downloads_a_missing_model_with_progress(qtbot, served_kit: Path) -> None:
    with studio(qtbot, served_kit) as window:
        tab = window.models_tab
        qtbot.waitUntil(lambda: tab.report is not None, timeout=20000)
        states = {row.status.spec.id: row.state for row in tab.report.rows}
        assert states["gfpgan_1.4"] == "missing" and states["det_10g"] == "verified"
        assert tab.report.missing_required == []  # the enhancer is optional: no detour to this tab
        assert window.tabs.currentWidget() is window.live_panel
        row = [r.status.spec.id for r in tab.report.rows].index("gfpgan_1.4")
        tab.table.selectRow(row)
        assert "missing" in tab.detail.text() and str(served_kit) in tab.detail.text()
        assert tab.download_button.isEnabled()
        with qtbot.waitSignal(tab.modelsChecked, timeout=20000):
            tab.download_button.click()
            assert not tab.download_button.isEnabled()  # one download at a time
        assert {r.status.spec.id: r.state for r in tab.report.rows}["gfpgan_1.4"] == "verified"
        assert (served_kit / "kit_gfpgan_1.4.onnx").is_file()


def test_first_run_without_models_lands_on_the_models_view(qtbot, kit_dir: Path) -> None:
    # No --models: the real catalog, and an empty models folder in the test's SWAPCAST_HOME.
    with studio(qtbot, None) as window:
        tab = window.models_tab
        qtbot.waitUntil(lambda: tab.report is not None, timeout=20000)
        assert set(tab.report.missing_required) >= {"det_10g", "w600k_r50"}
        assert window.tabs.currentWidget() is tab
        # The engine could not load; the health panel and the status bar say why, naming the file.
        qtbot.waitUntil(lambda: window.engine.state is EngineState.FAILED, timeout=20000)
        assert window.health.level == "down"
        assert "models download" in window.engine_label.text() or ".onnx" in window.engine_label.text()
        tab.table.selectRow(0)
        assert "How to fix" in tab.detail.text()


def test_a_cancelled_download_stops_and_leaves_no_model_file(qtbot, served_kit: Path) -> None:
    class AlreadyCancelled(threading.Event):
        """Cancel pressed before the first bytes arrive (the click and the download race otherwise)."""

        def clear(self) -> None:
            self.set()

    with studio(qtbot, served_kit) as window:
        tab = window.models_tab
        qtbot.waitUntil(lambda: tab.report is not None, timeout=20000)
        tab.table.selectRow([r.status.spec.id for r in tab.report.rows].index("gfpgan_1.4"))
        tab._cancel = AlreadyCancelled()
        tab.download_button.click()
        assert tab.cancel_button.isVisibleTo(tab)
        qtbot.waitUntil(lambda: tab.downloading is None, timeout=20000)
        assert "cancelled" in tab.detail.text()
        assert not (served_kit / "kit_gfpgan_1.4.onnx").exists()
        assert not tab.cancel_button.isVisibleTo(tab)
