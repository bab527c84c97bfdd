"""Settings → "Allow remote control": the task API runs inside the studio on the address the status bar
shows, shares the window's job queue, and stops when turned off; a busy port says so, nothing crashes."""

from __future__ import annotations

import socket
from dataclasses import replace
import httpx
import pytest

from app.gui.settings import StudioSettings
from app.server.tokens import TokenStore
from test_jobs_fakes import make_spec

from gui_support import studio


def turn_remote_control(window, on: bool, port: int = 0) -> None:  # type: ignore[no-untyped-def]
    dialog = window.open_settings()
    dialog.remote_control.setChecked(on)
    dialog.remote_port.setValue(port)
    dialog.accept()


def shown_url(window) -> str:  # type: ignore[no-untyped-def]
    text = window.status_bar.remote_label.text()
    assert window.status_bar.remote_label.isVisible() and text.startswith("remote control: http://127.0.0.1:")
    return text.removeprefix("remote control: ")


def test_remote_control_serves_on_the_shown_address_and_stops_when_turned_off(qtbot) -> None:
    with studio(qtbot, None) as window:
        assert not window.status_bar.remote_label.isVisible()  # off by default
        assert StudioSettings().preferences().remote_control is False
        turn_remote_control(window, True)
        url = shown_url(window)
        assert window.status_bar.token_box is not None  # the first admin token, shown once
        token = window.status_bar.token_box.informativeText()
        assert TokenStore().verify(token).role.value == "admin"
        window.status_bar.token_box.accept()

        health = httpx.get(f"{url}/health", timeout=30)
        assert health.status_code == 200 and health.json()["data"]["alive"] is True
        # The same queue as the Jobs tab: a job the window's store holds is counted by the API.
        window.queue.store.add(make_spec("ok", "from-the-studio"))
        status = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        counts = status.json()["data"]["queue"]
        assert sum(counts.values()) == 1  # (the window's worker may already be running it)
        assert StudioSettings().preferences().remote_control is True  # remembered

        turn_remote_control(window, False)
        assert not window.status_bar.remote_label.isVisible()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=5)


def test_remote_control_restarts_with_the_saved_setting_and_reports_a_busy_port(qtbot) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = StudioSettings()
        settings.set_preferences(replace(settings.preferences(), remote_control=True, remote_port=port))
        with studio(qtbot, None) as window:
            assert window.remote.url == ""
            assert window.status_bar.remote_label.text() == "remote control: off"
            assert f"port {port} on 127.0.0.1 is already in use" in window.status_bar.remote_label.toolTip()
    with studio(qtbot, None) as window:  # the port is free again: the saved setting starts it
        url = shown_url(window)
        assert url.endswith(f":{port}")
        assert window.status_bar.token_box is not None  # the first start that succeeded made the admin token
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)  # closing the window stopped it
