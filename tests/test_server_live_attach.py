"""The API following a live session it did not start (the studio's, with "Allow remote control" on): a real
LiveSession on the kit's file camera, attached to a real server's LiveHost, is read and driven over HTTP;
starting a second one is refused; stop goes through the session's owner; a server shutdown leaves it running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.pipeline.api import LiveConfig, SessionState
from app.pipeline.session import LiveSession
from app.server.live_host import STUDIO_OWNS, Owner
from app.server.roles import Role
from server_support import RunningServer, running_server
from test_server_live import live, samples, start, video_size, wait_for  # noqa: F401  (samples: a fixture)


class StudioOwner:
    """What the studio's RemoteControl does with the host's callbacks: remember the changes, stop on request
    (the studio queues the stop to its GUI thread and joins the session on a worker: here a thread)."""

    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self.changes: list[dict[str, Any]] = []
        self.stop_requests = 0
        self.threads: list[threading.Thread] = []

    def on_change(self, controls: dict[str, Any]) -> None:
        self.changes.append(controls)

    def on_stop(self) -> None:
        self.stop_requests += 1
        thread = threading.Thread(target=self.session.stop, kwargs={"timeout": 10.0})
        thread.start()
        self.threads.append(thread)

    def owner(self) -> Owner:
        return Owner(on_change=self.on_change, on_stop=self.on_stop)


@pytest.fixture()
def studio_session(samples: Path) -> Iterator[LiveSession]:  # noqa: F811
    """The studio's session: Alice and Bob from its gallery, the sample video as the camera."""
    config = LiveConfig(identities=((samples / "source_a.png",), (samples / "source_b.png",)),
                        camera=str(samples / "target.mp4"))
    session = LiveSession(config)
    session.start()
    try:
        yield session
    finally:
        session.stop(timeout=10.0)
        session.wait(timeout=10.0)


@pytest.fixture()
def server(tmp_path: Path, samples: Path) -> Iterator[RunningServer]:  # noqa: F811
    with running_server(tmp_path, allow_paths=(samples,)) as running:
        with running.client(Role.OPERATOR) as operator:  # Carol is in the library, not in the studio's gallery
            added = operator.post("/api/sources", data={"name": "Carol"},
                                  files=[("photo", ("c.png", (samples / "source_b.png").read_bytes(), "image/png"))])
            assert added.status_code == 201, added.text
        yield running


def test_an_attached_studio_session_is_read_and_driven_over_http_and_start_is_refused(
        server: RunningServer, studio_session: LiveSession, samples: Path) -> None:  # noqa: F811
    studio = StudioOwner(studio_session)
    groups = studio_session.config.identities
    server.context.live.attach(studio_session, ("Alice", "Bob"), groups, studio.owner())
    with server.client(Role.OPERATOR) as operator, server.client(Role.VIEWER) as viewer:
        running = wait_for("the studio's frames", lambda: (s := live(viewer))["state"] == "running"
                           and s["frames"] >= 5 and s)
        assert running["run_by"] == "studio" and running["camera"] == "target.mp4"  # a viewer: no server paths
        assert running["fps_out"] > 0 and running["controls"]["sources"] == ["Alice", "Bob"]
        status = viewer.get("/api/status").json()["data"]["live"]
        assert status["run_by"] == "studio" and status["frames"] >= 5

        preview = wait_for("a preview frame", lambda: (r := viewer.get("/api/live/preview.jpg")).status_code == 200 and r)
        picture = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and (picture.shape[1], picture.shape[0]) == video_size(samples / "target.mp4")

        # Controls act on the studio's session, and the studio hears of each change.
        changed = operator.post("/api/live/controls", json={"mirror": True, "swap": False})
        assert changed.status_code == 200, changed.text
        board = studio_session.controls.board.state
        assert board.mirror is True and board.bypass is True
        assert studio.changes[-1]["mirror"] is True and studio.changes[-1]["swap"] is False

        # Sources by the studio's gallery names.
        switched = operator.post("/api/live/source", json={"name": "bob"})
        assert switched.status_code == 200, switched.text
        assert switched.json()["data"]["active_source_name"] == "Bob"
        assert studio_session.controls.board.state.active_source == 1
        assert studio.changes[-1]["active_source"] == 1
        # A face only in the library is not the studio's: it names the studio's faces, adds nothing.
        not_shown = operator.post("/api/live/source", json={"name": "Carol"})
        assert not_shown.status_code == 404 and "Alice, Bob" in not_shown.json()["error"]["message"]
        upload = operator.post("/api/live/source", files=[("photo", ("me.png", b"not read", "image/png"))])
        assert upload.status_code == 409 and "Source faces panel" in upload.json()["error"]["message"]
        assert live(viewer)["controls"]["sources"] == ["Alice", "Bob"]

        refused = start(operator, samples)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
        assert refused.json()["error"]["message"] == STUDIO_OWNS
        assert studio_session.state is SessionState.RUNNING

        # A server shutdown (remote control turned off: detach, then the server stops) must not stop it.
        server.context.live.close()
        assert studio_session.state is SessionState.RUNNING
        server.context.live.attach(studio_session, ("Alice", "Bob"), groups, studio.owner())
        server.context.live.detach()
        server.context.live.close()
        assert studio_session.state is SessionState.RUNNING
        server.context.live.attach(studio_session, ("Alice", "Bob"), groups, studio.owner())

        # Stop is the studio's to do: the host asks it, and answers once the session has stopped.
        stopped = operator.post("/api/live/stop")
        assert stopped.status_code == 200, stopped.text
        assert studio.stop_requests == 1 and stopped.json()["data"]["state"] == "stopped"
        for thread in studio.threads:
            thread.join(timeout=10)
    assert studio_session.state is SessionState.STOPPED


def test_after_a_detach_the_server_may_start_its_own_session(server: RunningServer, studio_session: LiveSession,
                                                             samples: Path) -> None:  # noqa: F811
    studio = StudioOwner(studio_session)
    host = server.context.live
    host.attach(studio_session, ("Alice", "Bob"), studio_session.config.identities, studio.owner())
    with server.client(Role.OPERATOR) as operator:
        wait_for("running", lambda: live(operator)["state"] == "running")
        studio_session.stop(timeout=10.0)  # the studio stopped it, and let go
        host.detach()
        assert live(operator)["run_by"] == "studio"  # the final state stays readable
        started = start(operator, samples, sources=["Carol"])
        assert started.status_code == 202, started.text
        assert started.json()["data"]["run_by"] == "api"
        assert operator.post("/api/live/controls", json={"mirror": True}).status_code == 200
        assert studio.changes == []  # the studio is not told about a session that is not its own
        assert operator.post("/api/live/stop").status_code == 200
