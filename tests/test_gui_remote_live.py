"""Remote control while the studio runs live: the API drives the window's own session (a Stream Deck button
posting /controls or /source), and the window's widgets show the change; start is refused, and a stop over
the API stops the session the window's way (its Start button comes back)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from app.gui.live_panel import LivePanel
from app.pipeline.api import SessionState
from gui_support import studio, wait_engine
from test_gui_remote_control import shown_url, turn_remote_control


def test_api_controls_and_source_switch_drive_the_studio_session_and_its_widgets(qtbot, kit_dir: Path,
                                                                                 monkeypatch) -> None:
    samples = kit_dir / "samples"
    shown_on: set[bool] = set()
    show_controls = LivePanel.show_controls

    def spy(self: LivePanel, controls: dict) -> None:  # type: ignore[type-arg]
        shown_on.add(QThread.currentThread() is QApplication.instance().thread())
        show_controls(self, controls)

    monkeypatch.setattr(LivePanel, "show_controls", spy)
    with studio(qtbot, kit_dir) as window:
        wait_engine(qtbot, window)
        window.sources.add_photos([samples / "source_a.png", samples / "source_b.png"])
        qtbot.waitUntil(lambda: not window.sources.busy, timeout=20000)
        assert len(window.sources.identities) == 2 and window.sources.active == 0
        second = window.sources.identities[1].name

        turn_remote_control(window, True)
        url = shown_url(window)
        assert window.status_bar.token_box is not None
        headers = {"Authorization": f"Bearer {window.status_bar.token_box.informativeText()}"}
        window.status_bar.token_box.accept()

        window.live_panel.use_video_file(samples / "target.mp4")
        window.live_panel.start_button.click()
        qtbot.waitUntil(lambda: window.live.state is SessionState.RUNNING, timeout=30000)
        session = window.live.session
        assert session is not None
        assert not window.live_panel.mirror_check.isChecked()

        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            state = client.get("/api/live").json()["data"]
            assert state["run_by"] == "studio" and state["controls"]["sources"] == [i.name for i in window.sources.identities]

            mirrored = client.post("/api/live/controls", json={"mirror": True})
            assert mirrored.status_code == 200, mirrored.text
            assert session.controls.board.state.mirror  # the window's session itself
            qtbot.waitUntil(window.live_panel.mirror_check.isChecked, timeout=10000)
            qtbot.waitUntil(lambda: window.live.last_stats is not None and window.live.last_stats.mirror, timeout=10000)

            switched = client.post("/api/live/source", json={"name": second})
            assert switched.status_code == 200, switched.text
            assert switched.json()["data"]["active_source_name"] == second
            qtbot.waitUntil(lambda: window.sources.active == 1, timeout=10000)  # the gallery shows it active
            assert session.controls.board.state.active_source == 1
            assert window.jobs_tab.dialog_defaults["sources"] == window.sources.identities[1].usable_photos

            refused = client.post("/api/live/start", json={"camera": 0})
            assert refused.status_code == 409
            assert refused.json()["error"]["message"].startswith("the studio is running the live session")
            assert shown_on == {True}  # the widgets were changed on the GUI thread only

        # Remote control off: the session runs on; on again (a new server): it follows the running session.
        turn_remote_control(window, False)
        assert window.live.running and window.live.session is session
        assert session.state is SessionState.RUNNING
        turn_remote_control(window, True)
        url = shown_url(window)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            assert client.get("/api/live").json()["data"]["controls"]["active_source"] == 1

            # The stop is queued to the window, which stops its session; the request answers once it has.
            answers: list[httpx.Response] = []
            asking = threading.Thread(target=lambda: answers.append(client.post("/api/live/stop")))
            asking.start()
            qtbot.waitUntil(lambda: window.live.state is SessionState.STOPPED, timeout=30000)
            qtbot.waitUntil(lambda: not asking.is_alive(), timeout=30000)
            asking.join()
        assert answers[0].status_code == 200 and answers[0].json()["data"]["state"] == "stopped"
        assert not window.live.running and window.live_panel.start_button.text() == "Start"
