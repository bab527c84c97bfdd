"""When the engine cannot load, the studio says so in one line everywhere and nothing offers a Start
that cannot work; when the models arrive, it recovers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from app.gui.engine_service import EngineState
from gui_support import studio, wait_engine


def _kit_without_swapper(kit_dir: Path, folder: Path) -> str:
    """A models folder with the kit's manifest but no swapper files; the default swapper's file name."""
    folder.mkdir()
    manifest = json.loads((kit_dir / "manifest.json").read_text())
    missing = ""
    for entry in manifest["models"]:
        if entry["role"] == "swapper":
            missing = entry["file"] if entry.get("default") else missing
        else:
            shutil.copy(kit_dir / entry["file"], folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return missing


def test_with_the_engine_down_start_is_off_and_every_hint_says_why(qtbot, kit_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    missing = _kit_without_swapper(kit_dir, models)
    with studio(qtbot, models) as window:
        qtbot.waitUntil(lambda: window.engine.state is EngineState.FAILED, timeout=20000)
        panel = window.live_panel
        window.sources.add_photos([kit_dir / "samples" / "source_a.png"])
        panel.use_video_file(kit_dir / "samples" / "target.mp4")
        # Start cannot work: it is off, and says why.
        assert not panel.start_button.isEnabled()
        assert missing in panel.start_button.toolTip()
        assert not window.start_live() and window.live.session is None
        # The preview's hint is the real state, not "Pick a source face…".
        hint = panel.preview.placeholder
        assert "Pick a source face" not in hint and "could not load" in hint and missing in hint
        assert "Models tab" in hint
        # The photo waits for an engine that will not come: the gallery says so, not "waiting for the models…".
        label = window.sources.list.item(0).text()
        assert "waiting for the models" not in label and "engine down" in label
        # The health panel says down, never "engine loading…".
        assert window.health.level == "down" and "loading" not in window.health.summary.text()
        # The status bar: one line (what failed and the fix), the whole error in its tooltip.
        status = window.status_bar.engine_label
        assert "\n" not in status.full_text and "http" not in status.full_text
        assert status.full_text.startswith("engine could not load:") and missing in status.full_text
        assert "Models tab" in status.full_text
        assert status.toolTip() == window.engine.message  # the whole error, every alternative fix
        assert missing in status.toolTip() and "drop --models" in status.toolTip()
        assert status.text() == status.full_text or status.text().endswith("…")  # never cut without a mark
        # The file arrives; "Check again" finds it, the engine loads, Start comes back.
        shutil.copy(kit_dir / missing, models / missing)
        window.models_tab.verify_button.click()
        wait_engine(qtbot, window, 20000)
        assert panel.start_button.isEnabled() and not panel.start_button.toolTip()
        assert "could not load" not in panel.preview.placeholder
        assert "engine" in status.full_text and "ready" in status.full_text
