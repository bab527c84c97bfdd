"""The API's shared rules, through a real uvicorn server: the envelope, tokens and roles."""

from __future__ import annotations

import os
import stat

from app.server.roles import Role

from server_support import running_server


def test_health_needs_no_token_and_says_the_queue_is_usable(tmp_path) -> None:
    with running_server(tmp_path) as server, server.client(role=None) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["data"]["alive"] is True and body["data"]["queue"] is True


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
