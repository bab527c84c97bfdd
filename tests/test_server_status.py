"""`GET /api/status` through a real uvicorn server: who may read it, and what it says — real queue
counts, engines (loaded or not, never loaded by the read), GPU memory, system load, the live session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, Depends

from app import __version__
from app.engine_host import cache as engine_cache
from app.engine_host import settings as engine_settings
from app.jobs.model import JobState
from app.server import status_view
from app.server.auth import require
from app.server.envelope import ok
from app.server.roles import Role
from test_jobs_fakes import make_spec

from server_support import running_server

# No operator-only route exists on this branch yet: a test route that needs one, to check the 403.
operator_probe = APIRouter()


@operator_probe.post("/api/test-operator-only", dependencies=[Depends(require(Role.OPERATOR))])
def _operator_only() -> dict[str, object]:
    return ok("done")


@pytest.fixture(autouse=True)
def fresh_engine_view() -> None:
    status_view.refresh_engines()  # each test sees the engines as they are now, not a cached read
    yield
    engine_cache.release_all()
    status_view.refresh_engines()


def test_status_needs_a_token_and_a_viewer_may_read_it(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        with server.client(role=None) as anonymous:
            response = anonymous.get("/api/status")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
        assert "Authorization: Bearer" in response.json()["error"]["message"]
        with server.client(role=None) as wrong:
            response = wrong.get("/api/status", headers={"Authorization": "Bearer sc_made-up"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        with server.client(Role.VIEWER) as viewer:
            response = viewer.get("/api/status")
        assert response.status_code == 200 and response.json()["ok"] is True
        assert response.json()["data"]["role"] == "viewer"  # a client shows only the controls it may use
        with server.client(Role.OPERATOR) as operator:
            assert operator.get("/api/status").json()["data"]["role"] == "operator"


def test_a_revoked_token_is_refused_at_once(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        assert viewer.get("/api/status").status_code == 200
        record = server.context.tokens.verify(server.tokens[Role.VIEWER])
        server.context.tokens.revoke(record.id)
        response = viewer.get("/api/status")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("unknown or revoked token")


def test_a_viewer_is_forbidden_an_operator_route_and_an_operator_is_not(tmp_path: Path) -> None:
    with running_server(tmp_path, routers=[operator_probe]) as server:
        with server.client(Role.VIEWER) as viewer:
            refused = viewer.post("/api/test-operator-only")
        with server.client(Role.OPERATOR) as operator:
            allowed = operator.post("/api/test-operator-only")
        with server.client(Role.ADMIN) as admin:
            also = admin.post("/api/test-operator-only")
    assert refused.status_code == 403
    assert refused.json() == {"ok": False, "error": {
        "code": "forbidden", "message": "a viewer token cannot do this — it needs an operator token"}}
    assert allowed.status_code == 200 and allowed.json() == {"ok": True, "data": "done"}
    assert also.status_code == 200


def test_status_counts_the_queue_by_state(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        store = server.context.store
        jobs = [store.add(make_spec("ok", str(i))) for i in range(5)]
        # Oldest first: job 0 runs to completion, job 1 stays running; job 4 is cancelled; 2, 3 wait.
        done = store.claim("test-worker", lease_s=60)
        store.complete(done.id, "/fake/out/0.mp4", worker_id="test-worker")
        store.claim("test-worker", lease_s=60)
        store.cancel(jobs[4].id)
        data = viewer.get("/api/status").json()["data"]
    assert data["queue"] == {"pending": 2, "processing": 1, "completed": 1, "failed": 0, "cancelled": 1}
    assert set(data["queue"]) == {state.value.lower() for state in JobState}


def test_status_reports_version_machine_and_live(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        data = viewer.get("/api/status").json()["data"]
        live = server.context.live.snapshot()
    assert data["version"] == __version__
    gpu = data["gpu"]
    assert gpu["available"] == bool(gpu["gpus"])
    if not gpu["available"]:  # this machine: no NVIDIA driver, and the reason says so
        assert gpu["reason"]
    for card in gpu["gpus"]:
        assert 0 <= card["memory_used"] <= card["memory_total"]
    system = data["system"]
    assert system["cpu_count"] >= 1 and 0 < system["ram_used"] <= system["ram_total"]
    assert system["process_rss"] > 0
    assert data["live"] == live  # the live session's snapshot, as the live host gives it (None: never ran)


def test_status_lists_engines_without_loading_one(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        data = viewer.get("/api/status").json()["data"]
    assert data["engines_error"] is None
    engines = {engine["name"]: engine for engine in data["engines"]}
    builtin = engines["builtin"]
    assert builtin["in_process"] and builtin["enabled"] and builtin["state"] in ("ok", "degraded", "down")
    assert builtin["loaded"] is False and builtin["models"] == []  # what is known: not loaded
    assert not engine_cache._engines  # answering did not load it
    assert engines["facefusion"]["state"] == "down" and engines["facefusion"]["reason"] == "disabled in integrations.json"


def test_status_shows_a_loaded_engine_with_its_models_and_providers(tmp_path: Path, kit_dir: Path) -> None:
    engine_cache.shared_engine(str(kit_dir), owner="builtin")  # as a job or the live session loads it
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        data = viewer.get("/api/status").json()["data"]
    builtin = next(engine for engine in data["engines"] if engine["name"] == "builtin")
    assert builtin["loaded"] is True
    roles = {model["role"] for model in builtin["models"]}
    assert {"detector", "swapper"} <= roles
    for model in builtin["models"]:
        assert model["loaded"] is True
        assert model["provider"] == "CPUExecutionProvider"  # no GPU here
        assert model["degraded"] is bool(model["fallback_reason"])


def test_a_broken_engine_settings_file_is_reported_not_a_500(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "integrations.json"
    broken.write_text("{ not json")
    monkeypatch.setenv(engine_settings.INTEGRATIONS_ENV, str(broken))
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        response = viewer.get("/api/status")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["engines"] == [] and "integrations.json" in data["engines_error"]
    assert data["queue"]["pending"] == 0  # the rest of the status is still there
