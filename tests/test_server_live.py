"""Live control through a real server: the kit's models, its sample video as the camera."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from app.pipeline.outputs import OutputUnavailable, find_virtual_camera
from app.server.roles import Role
from server_support import RunningServer, running_server

DEADLINE_S = 60.0


def wait_for(what: str, condition: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def live(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/api/live")
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def video_size(path: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    try:
        while capture.read()[0]:
            frames += 1
    finally:
        capture.release()
    return frames


@pytest.fixture()
def samples(kit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    return kit_dir / "samples"


@pytest.fixture()
def server(tmp_path: Path, samples: Path) -> Iterator[RunningServer]:
    """A server allowed to read the kit's samples, with Alice and Bob in its sources library."""
    with running_server(tmp_path, allow_paths=(samples,)) as running:
        with running.client(Role.OPERATOR) as operator:
            for name, file in (("Alice", "source_a.png"), ("Bob", "source_b.png")):
                added = operator.post("/api/sources", data={"name": name},
                                      files=[("photo", (file, (samples / file).read_bytes(), "image/png"))])
                assert added.status_code == 201, added.text
        try:
            yield running
        finally:
            running.context.live.close()


def start(client: httpx.Client, samples: Path, **fields: Any) -> httpx.Response:
    return client.post("/api/live/start", json={"camera": str(samples / "target.mp4"), **fields})


def test_a_live_session_runs_switches_source_shows_a_preview_and_records(server: RunningServer, samples: Path,
                                                                        tmp_path: Path) -> None:
    with server.client(Role.OPERATOR) as operator, server.client(Role.VIEWER) as viewer:
        assert viewer.get("/api/live/preview.jpg").status_code == 409  # nothing has run yet
        started = start(operator, samples, sources=["Alice"], outputs={"record": "take1.mp4"})
        assert started.status_code == 202, started.text
        assert started.json()["data"]["controls"]["sources"] == ["Alice"]

        running = wait_for("frames flowing", lambda: (s := live(viewer))["state"] == "running" and s["frames"] >= 5 and s)
        assert running["fps_in"] > 0 and running["fps_out"] > 0 and running["latency_ms_p95"] >= running["latency_ms_p50"] > 0
        assert {o["name"] for o in running["outputs"]} >= {"recording", "preview"}
        # The server's own paths (the camera file, the recordings folder) are an admin's to see;
        # remote clients get the file name wherever the session's state is shown.
        assert running["camera"] == "target.mp4" and started.json()["data"]["camera"] == "target.mp4"
        status_live = viewer.get("/api/status").json()["data"]["live"]
        assert status_live["camera"] == "target.mp4" and str(samples) not in str(status_live)
        assert str(samples) not in str(live(viewer)) and str(tmp_path) not in str(live(operator))
        with server.client(Role.ADMIN) as admin:
            assert live(admin)["camera"] == str(samples / "target.mp4")

        # Bob is in the library but not yet in the session: recognised, then active.
        switched = operator.post("/api/live/source", json={"name": "Bob"})
        assert switched.status_code == 200, switched.text
        assert switched.json()["data"]["active_source_name"] == "Bob"
        assert live(viewer)["controls"]["sources"] == ["Alice", "Bob"]
        assert live(viewer)["controls"]["active_source"] == 1
        back = operator.post("/api/live/source", json={"index": 0}).json()["data"]
        assert back["active_source"] == 0 and back["active_source_name"] == "Alice"
        unknown = operator.post("/api/live/source", json={"name": "Carol"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "source_not_found"
        assert "Alice, Bob" in unknown.json()["error"]["message"]
        no_such_index = operator.post("/api/live/source", json={"index": 7})
        assert no_such_index.status_code == 404 and "has 2" in no_such_index.json()["error"]["message"]

        frames_before = live(viewer)["frames"]
        wait_for("frames after the switch", lambda: live(viewer)["frames"] > frames_before)
        preview = wait_for("a preview frame", lambda: (r := viewer.get("/api/live/preview.jpg")).status_code == 200 and r)
        assert preview.headers["content-type"] == "image/jpeg" and preview.headers["cache-control"] == "no-store"
        picture = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and (picture.shape[1], picture.shape[0]) == video_size(samples / "target.mp4")

        stopped = operator.post("/api/live/stop")
        assert stopped.status_code == 200, stopped.text
        final = stopped.json()["data"]
        assert final["state"] == "stopped" and final["recording"] == "take1.mp4"
        recording = next(o for o in final["outputs"] if o["name"] == "recording")
        assert recording["worked"] and not recording["never_worked"]
    saved = tmp_path / "uploads" / "recordings" / "take1.mp4"
    assert saved.is_file() and frame_count(saved) > 0

    # A remote client downloads the recording: its URL is in the final state and in the listing.
    assert final["recording_url"] == "/api/live/recordings/take1.mp4"
    with server.client(Role.VIEWER) as viewer:
        listed = viewer.get("/api/live/recordings").json()["data"]["recordings"]
        assert listed == [{"name": "take1.mp4", "size": saved.stat().st_size, "url": final["recording_url"]}]
        whole = viewer.get(final["recording_url"])
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        assert whole.content == saved.read_bytes()
        part = viewer.get(final["recording_url"], headers={"Range": "bytes=10-109"})
        assert part.status_code == 206 and part.content == whole.content[10:110]
        missing = viewer.get("/api/live/recordings/take2.mp4")
        assert missing.status_code == 404 and "GET /api/live/recordings lists them" in missing.json()["error"]["message"]
        for escape in ("..%2Ftake1.mp4", "..%2F..%2Fdata%2Fjobs.sqlite3", "jobs.sqlite3"):
            assert viewer.get(f"/api/live/recordings/{escape}").status_code == 404, escape
    with server.client(role=None) as anonymous:
        assert anonymous.get(final["recording_url"]).status_code == 401

    with server.client(Role.OPERATOR) as operator:
        again = operator.post("/api/live/stop")
        assert again.status_code == 409 and again.json()["error"]["code"] == "live_not_running"
        taken = start(operator, samples, outputs={"record": "take1.mp4"})
        assert taken.status_code == 409 and "take1.mp4" in taken.json()["error"]["message"]


def test_controls_change_the_running_session_and_a_bad_face_mode_names_the_valid_ones(server: RunningServer,
                                                                                      samples: Path) -> None:
    with server.client(Role.OPERATOR) as operator:
        assert operator.post("/api/live/controls", json={"mirror": True}).status_code == 409  # not running
        assert start(operator, samples).status_code == 202  # no sources named: the whole library
        wait_for("running", lambda: live(operator)["state"] == "running")
        assert live(operator)["controls"]["sources"] == ["Alice", "Bob"]

        changed = operator.post("/api/live/controls", json={"swap": False, "mirror": True, "mouth_mask": True,
                                                            "face_mode": "all", "enhance_blend": 0.5})
        assert changed.status_code == 200, changed.text
        expected = {"swap": False, "mirror": True, "mouth_mask": True, "face_mode": "all", "enhance_blend": 0.5}
        assert {k: changed.json()["data"][k] for k in expected} == expected
        assert {k: live(operator)["controls"][k] for k in expected} == expected

        refused = operator.post("/api/live/controls", json={"swap": True, "face_mode": "sideways"})
        assert refused.status_code == 422
        message = refused.json()["error"]["message"]
        assert "sideways" in message and "largest, all, position, reference" in message
        assert live(operator)["controls"]["swap"] is False  # nothing of a refused request was applied
        typo = operator.post("/api/live/controls", json={"mirrored": True})
        assert typo.status_code == 422 and "mirrored" in typo.json()["error"]["message"]

        assert operator.post("/api/live/stop").json()["data"]["state"] == "stopped"


def test_one_session_per_server_and_start_requests_are_checked(server: RunningServer, samples: Path,
                                                               tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes((samples / "target.mp4").read_bytes())
    with server.client(Role.OPERATOR) as operator, server.client(Role.VIEWER) as viewer:
        denied = start(viewer, samples)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert operator.post("/api/live/start", json={"camera": str(outside)}).status_code == 403
        escape = operator.post("/api/live/start", json={"camera": str(samples / ".." / "samples" / ".." / "manifest.json")})
        assert escape.status_code == 403 and escape.json()["error"]["code"] == "path_not_allowed"
        link = samples / "link.mp4"
        link.unlink(missing_ok=True)
        link.symlink_to(outside)
        try:
            assert operator.post("/api/live/start", json={"camera": str(link)}).status_code == 403
        finally:
            link.unlink()
        unknown = start(operator, samples, sources=["Carol"])
        assert unknown.status_code == 404 and "Alice, Bob" in unknown.json()["error"]["message"]
        bad_record = start(operator, samples, outputs={"record": "../../etc/x.mp4"})
        assert bad_record.status_code == 422 and "plain file name" in bad_record.json()["error"]["message"]
        bad_mode = start(operator, samples, face_mode="sideways")
        assert bad_mode.status_code == 422 and "largest, all, position, reference" in bad_mode.json()["error"]["message"]
        assert live(operator) is None  # nothing refused has started anything

        assert start(operator, samples, sources=["Bob"]).status_code == 202
        second = start(operator, samples)
        assert second.status_code == 409 and second.json()["error"]["code"] == "conflict"
        assert "stop it first" in second.json()["error"]["message"]
        assert viewer.post("/api/live/stop").status_code == 403
        assert operator.post("/api/live/stop").status_code == 200
        assert start(operator, samples).status_code == 202  # stopped: a new one may start
        assert operator.post("/api/live/stop").status_code == 200


def test_a_virtual_camera_that_is_not_there_is_refused_with_the_fix(server: RunningServer, samples: Path) -> None:
    try:
        find_virtual_camera("auto", None)
        pytest.skip("this machine has a virtual camera")
    except OutputUnavailable:
        pass
    with server.client(Role.OPERATOR) as operator:
        refused = start(operator, samples, outputs={"virtual_cam": True})
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert "virtual camera" in message.lower() and "\n" not in message
        assert live(operator) is None


def test_switch_to_an_uploaded_photo_and_a_text_file_is_refused(server: RunningServer, samples: Path,
                                                                tmp_path: Path) -> None:
    with server.client(Role.OPERATOR) as operator:
        not_running = operator.post("/api/live/source", files=[("photo", ("b.png", b"x", "image/png"))])
        assert not_running.status_code == 409
        assert start(operator, samples, sources=["Alice"]).status_code == 202
        wait_for("running", lambda: live(operator)["state"] == "running")

        text = operator.post("/api/live/source", files=[("photo", ("face.jpg", b"hello, not a jpeg", "image/jpeg"))])
        assert text.status_code == 415 and "face.jpg" in text.json()["error"]["message"]
        assert live(operator)["controls"]["sources"] == ["Alice"]

        uploaded = operator.post("/api/live/source", data={"name": "Visitor"},
                                 files=[("photo", ("me.png", (samples / "source_b.png").read_bytes(), "image/png"))])
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["data"]["active_source_name"] == "Visitor"
        assert live(operator)["controls"]["sources"] == ["Alice", "Visitor"]
        assert len(list((tmp_path / "uploads" / "sources").glob("*.png"))) == 2  # same content as Bob's: one file

        blank = np.full((64, 64, 3), 200, np.uint8)
        faceless = operator.post("/api/live/source", files=[("photo", ("wall.png", cv2.imencode(".png", blank)[1].tobytes(),
                                                                        "image/png"))])
        assert faceless.status_code == 400 and "not used" in faceless.json()["error"]["message"]
        controls = live(operator)["controls"]
        assert controls["sources"] == ["Alice", "Visitor"] and controls["active_source_name"] == "Visitor"
        assert operator.post("/api/live/stop").status_code == 200


def test_a_session_running_when_the_server_stops_is_stopped_and_its_recording_kept(tmp_path: Path,
                                                                                   samples: Path) -> None:
    with running_server(tmp_path, allow_paths=(samples,)) as server, server.client(Role.OPERATOR) as operator:
        added = operator.post("/api/sources", data={"name": "Alice"},
                              files=[("photo", ("a.png", (samples / "source_a.png").read_bytes(), "image/png"))])
        assert added.status_code == 201
        assert start(operator, samples, outputs={"record": "left-running.mkv"}).status_code == 202
        wait_for("frames flowing", lambda: live(operator)["frames"] >= 5)
        host = server.context.live
    assert host.snapshot()["state"] == "stopped"
    saved = tmp_path / "uploads" / "recordings" / "left-running.mkv"
    assert saved.is_file() and frame_count(saved) > 0


def test_live_stats_and_a_source_switch_reach_an_events_subscriber(server: RunningServer, samples: Path) -> None:
    """The whole remote loop a dashboard or a Stream Deck script sees: start on the file camera, stats
    once a second on /api/events, a source switch reflected there, and the stop."""
    import json

    from websockets.sync.client import connect

    def next_live(websocket: Any, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            message = json.loads(websocket.recv(timeout=DEADLINE_S))
            if message["type"] == "live" and accept(message["data"]):
                return message["data"]
        raise AssertionError("no such live message in time")

    url = f"{server.ws_url}/api/events?token={server.tokens[Role.VIEWER]}"
    with server.client(Role.OPERATOR) as operator, connect(url, open_timeout=DEADLINE_S) as websocket:
        assert start(operator, samples, sources=["Alice"]).status_code == 202
        first = next_live(websocket, lambda data: data["state"] == "running" and data["frames"] > 0)
        later = next_live(websocket, lambda data: data["frames"] > first["frames"])  # the stats keep coming
        assert later["fps_out"] > 0 and later["controls"]["active_source"] == 0
        assert later["camera"] == "target.mp4" and str(samples) not in json.dumps(later)  # a viewer: no server paths

        assert operator.post("/api/live/source", json={"name": "Bob"}).status_code == 200
        switched = next_live(websocket, lambda data: data["controls"]["sources"] == ["Alice", "Bob"]
                             and data["controls"]["active_source"] == 1)
        assert switched["state"] == "running"

        assert operator.post("/api/live/stop").status_code == 200
        assert next_live(websocket, lambda data: data["state"] == "stopped")["frames"] >= later["frames"]
