"""The Models tab: present and verified, where to put files by hand, downloads with progress, and
the first run without models landing on it."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.gui.engine_service import EngineState
from gui_support import shown_text, shown_tooltips, studio


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
        engine_line = window.status_bar.engine_label.text()
        assert "models download" in engine_line or ".onnx" in engine_line
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
        assert "cancelled" in shown_text(tab)
        assert not (served_kit / "kit_gfpgan_1.4.onnx").exists()
        assert not tab.cancel_button.isVisibleTo(tab)


@pytest.fixture
def offline_kit(kit_dir: Path, tmp_path: Path) -> Path:
    """A models folder whose optional enhancer is missing and can only come from a host that is down."""
    folder = tmp_path / "models"
    folder.mkdir()
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manifest = json.loads((kit_dir / "manifest.json").read_text())
    for entry in manifest["models"]:
        if entry["role"] == "enhancer":
            entry["urls"] = [f"http://127.0.0.1:{port}/{entry['file']}"]
        else:
            shutil.copy(kit_dir / entry["file"], folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("button", ["download_button", "download_all_button"])
def test_a_failed_download_stays_on_screen_with_the_url_and_the_folder(qtbot, offline_kit: Path,
                                                                        button: str) -> None:
    with studio(qtbot, offline_kit) as window:
        tab = window.models_tab
        qtbot.waitUntil(lambda: tab.report is not None, timeout=20000)
        ids = [r.status.spec.id for r in tab.report.rows]
        tab.table.selectRow(ids.index("gfpgan_1.4"))
        url = tab.report.rows[ids.index("gfpgan_1.4")].status.spec.all_urls[0]
        # The failure, then the re-check that follows it: the notice must survive both.
        with qtbot.waitSignal(tab.modelsChecked, timeout=20000):
            getattr(tab, button).click()
        qtbot.waitUntil(lambda: tab.downloading is None and tab.verify_button.isEnabled(), timeout=20000)
        notice = shown_text(tab)
        assert "Download of gfpgan_1.4 failed" in notice
        assert url in notice  # the URL that was tried
        assert str(offline_kit) in notice and "kit_gfpgan_1.4.onnx" in notice  # where to put it by hand
        assert "refused" in shown_tooltips(tab).lower()  # the whole reason, on demand
        tab.table.selectRow(0)  # looking at another row is not a new action: still shown
        assert "Download of gfpgan_1.4 failed" in shown_text(tab)
        # The next action replaces it.
        with qtbot.waitSignal(tab.modelsChecked, timeout=20000):
            tab.verify_button.click()
        assert "Download of gfpgan_1.4 failed" not in shown_text(tab)
