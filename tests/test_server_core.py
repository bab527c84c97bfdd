"""The API's shared rules, through a real uvicorn server: the envelope, tokens and roles."""

from __future__ import annotations

import os
import stat

from app.engine_host import settings as engine_settings
from app.server import status_view
from app.server.roles import Role

from server_support import running_server


def health_without_token(root):  # noqa: ANN001, ANN201 — a Path in, an httpx.Response out
    """GET /health on a fresh server, the engine checks read afresh before and after (they are cached)."""
    status_view.refresh_engines()
    try:
        with running_server(root) as server, server.client(role=None) as client:
            return client.get("/health")
    finally:
        status_view.refresh_engines()


def test_health_needs_no_token_and_says_the_queue_and_an_engine_are_usable(tmp_path, kit_dir, monkeypatch) -> None:
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    response = health_without_token(tmp_path)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["data"]["alive"] is True and body["data"]["queue"] is True
    assert body["data"]["engine"] is True and "builtin" in body["data"]["engines"]


def test_a_box_without_models_is_alive_but_not_ready(tmp_path, kit_dir, monkeypatch) -> None:
    """A fresh GPU box with no model files: the built-in engine would fail every job, so a readiness
    probe (`?ready=1`, e.g. `curl -f` in a Docker HEALTHCHECK) must see 503 until the models are there."""
    status_view.refresh_engines()
    try:
        with running_server(tmp_path) as server, server.client(role=None) as client:
            bare, bare_ready = client.get("/health"), client.get("/health?ready=1")
            monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))  # the models arrive
            status_view.refresh_engines()
            ready = client.get("/health?ready=1")
    finally:
        status_view.refresh_engines()
    assert bare.status_code == 200  # liveness: the API answers
    data = bare.json()["data"]
    assert data["engine"] is False and "builtin" not in data["engines"]
    assert {"det_10g.onnx", "w600k_r50.onnx", "inswapper_128.onnx"} <= set(data["models_missing"])
    assert bare_ready.status_code == 503 and bare_ready.json()["data"]["engine"] is False
    assert ready.status_code == 200
    assert ready.json()["data"]["engine"] is True and ready.json()["data"]["models_missing"] == []


def test_health_says_no_engine_is_usable_when_none_can_be_read(tmp_path, monkeypatch) -> None:
    (tmp_path / "integrations.json").write_text("{ not json")  # the engines' settings file is broken
    monkeypatch.setenv(engine_settings.INTEGRATIONS_ENV, str(tmp_path / "integrations.json"))
    response = health_without_token(tmp_path)
    assert response.status_code == 200  # alive: the API answers; what it can do is in the body
    data = response.json()["data"]
    assert data["alive"] is True and data["queue"] is True
    assert data["engine"] is False and data["engines"] == []


def test_an_unknown_endpoint_is_the_error_envelope_not_a_page(tmp_path) -> None:
    with running_server(tmp_path) as server, server.client() as client:
        response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": {"code": "not_found",
                                                      "message": "no endpoint /api/nothing-here — see /docs"}}


def test_tokens_are_stored_as_digests_in_an_owner_only_file(tmp_path) -> None:
    with running_server(tmp_path) as server:
        path = server.context.tokens.path
        text = path.read_text()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        for token in server.tokens.values():
            assert token not in text  # a stolen settings file gives no working token
        assert server.context.tokens.verify(server.tokens[Role.VIEWER]).role is Role.VIEWER
        assert server.context.tokens.verify(server.tokens[Role.VIEWER] + "x") is None
