"""FaceFusion over HTTP against a stand-in server on 127.0.0.1: health first, retries after HTTP 500,
user errors, garbage, timeouts, and a launched server restarted with back-off."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from app.monitor.health import HealthMonitor
from engines.base import HealthState
from engines.errors import TransientError
from engines.external.base import SwapRequest
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure, SourceError
from engines.manager import EngineManager, create_adapter
from engines.metadata import AI_TAG, read_image_tags
from standins.facefusion_server import StandinServer
from standins.helpers import SERVER_SCRIPT, document, free_port, http_entry


@pytest.fixture()
def server():
    servers: list[StandinServer] = []

    def start(*script: str) -> StandinServer:
        servers.append(StandinServer(list(script) or ["ok"]).start())
        return servers[-1]

    yield start
    for running in servers:
        running.stop()


def manager_for(url: str, **entry) -> EngineManager:
    config = parse_integrations(document({"facefusion-http": http_entry(url, **entry)}), Path("test.json"))
    return EngineManager(config, sleep=lambda s: time.sleep(min(s, 0.01)))


def request(kit_dir: Path, out: Path) -> SwapRequest:
    return SwapRequest(sources=(kit_dir / "samples/source_a.png",), target=kit_dir / "samples/target.png",
                       output=out, mode=Mode.IMAGE_TO_IMAGE, frames_hint=1)


def test_health_check_reports_the_version_and_the_round_trip(server) -> None:
    running = server()
    availability = manager_for(running.url).adapter("facefusion-http").check()
    assert availability.available and availability.version == "3.6.0" and availability.latency_ms is not None


def test_a_server_that_is_down_says_so(tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    availability = manager_for(url).adapter("facefusion-http").check()
    assert not availability.available and availability.reason.startswith(f"server at {url} is down (connection refused)")
    assert "launch" in availability.reason  # and how to have it started


def test_success_uploads_the_files_and_tags_the_answer(server, kit_dir, tmp_path) -> None:
    running = server("ok")
    out = tmp_path / "out.png"
    outcome = manager_for(running.url).run(request(kit_dir, out), lambda d, t: None)
    assert outcome.engine == "facefusion-http" and not outcome.failed_over
    [received] = running.requests
    assert received["fields"] == ["options", "source", "target"] and received["sources"] == ["source_a.png"]
    assert received["options"]["mode"] == "image_to_image" and received["options"]["face_selector_mode"] == "one"
    assert AI_TAG in read_image_tags(out)["comment"]
    assert running.health_checks >= 1  # health first


def test_http_500_then_success_is_retried_with_back_off(server, kit_dir, tmp_path) -> None:
    running = server("500", "ok")
    slept: list[float] = []
    config = parse_integrations(document({"facefusion-http": http_entry(
        running.url, retries={"attempts": 3, "backoffS": 0.05, "maxBackoffS": 1})}), Path("t.json"))
    manager = EngineManager(config, sleep=lambda s: (slept.append(s), time.sleep(s)))
    outcome = manager.run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert [a.outcome for a in outcome.attempts] == ["transient", "ok"]
    assert "server error HTTP 500" in outcome.attempts[0].message
    assert len(running.requests) == 2 and abs(sum(slept) - 0.05) < 0.02
    assert (tmp_path / "out.png").exists()


def test_http_500_every_time_ends_transient_after_the_attempts(server, kit_dir, tmp_path) -> None:
    running = server("503")
    manager = manager_for(running.url, retries={"attempts": 2, "backoffS": 0.01, "maxBackoffS": 0.01})
    with pytest.raises(TransientError, match="server error HTTP 503"):
        manager.run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert len(running.requests) == 2 and not list(tmp_path.iterdir())


def test_no_source_face_is_not_retried(server, kit_dir, tmp_path) -> None:
    running = server("422")
    manager = manager_for(running.url, retries={"attempts": 3, "backoffS": 0.01, "maxBackoffS": 0.01})
    with pytest.raises(SourceError, match="No source face detected"):
        manager.run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert len(running.requests) == 1


def test_a_server_that_does_not_speak_the_contract_is_an_engine_failure(server, kit_dir, tmp_path) -> None:
    running = server("400")
    with pytest.raises(EngineFailure, match=r"answered HTTP 400 .*/process contract"):
        manager_for(running.url).run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)


def test_garbage_in_a_200_answer_is_an_engine_failure(server, kit_dir, tmp_path) -> None:
    running = server("garbage")
    with pytest.raises(EngineFailure, match="not a usable image"):
        manager_for(running.url).run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert not list(tmp_path.iterdir())


def test_an_answer_slower_than_the_timeout_is_transient(server, kit_dir, tmp_path) -> None:
    running = server("slow")
    adapter = create_adapter(parse_integrations(document({"ff": http_entry(
        running.url, timeouts={"startS": 1, "idleS": 1, "totalS": 0.5, "healthS": 1})}), Path("t.json")).engine("ff"))
    started = time.monotonic()
    with pytest.raises(TransientError, match="no answer from .* within 0.5 s"):
        adapter.run(request(kit_dir, tmp_path / "out.png"), lambda d, t: None)
    assert time.monotonic() - started < 2


def test_a_launched_server_is_restarted_with_back_off_after_it_dies(tmp_path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    entry = http_entry(url, launch={"command": [sys.executable, str(SERVER_SCRIPT), "--port", str(port)],
                                    "readyTimeoutS": 15})
    manager = EngineManager(parse_integrations(document({"ff-http": entry}), Path("t.json")))
    adapter = manager.adapter("ff-http")
    monitor = HealthMonitor(manager)
    try:
        [report] = monitor.check_now()  # down → started
        assert report.state is HealthState.OK and report.available and report.restarts == 0
        adapter.supervisor._process.kill()  # the server crashes
        adapter.supervisor._process.wait(5)
        [report] = monitor.check_now()  # right after a quick death: back-off, not a tight loop
        assert report.state is HealthState.DOWN and "exited with code" in report.reason
        assert report.crashes == 1 and adapter.supervisor.state().next_start_in_s > 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and adapter.supervisor.state().next_start_in_s > 0:
            time.sleep(0.1)
        [report] = monitor.check_now()
        assert report.state is HealthState.OK and report.restarts == 1
    finally:
        monitor.stop()
        manager.close()
    assert adapter.supervisor.state().running is False
