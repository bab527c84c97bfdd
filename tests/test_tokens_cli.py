"""`swapcast tokens create|list|revoke`: tokens a running server accepts at once, kept as digests in
an owner-only file in the settings folder; `swapcast serve --show-token` makes a working admin token."""

from __future__ import annotations

import json
import os
import stat

import pytest

from app.cli.main import main
from app.paths import user_paths
from app.server.roles import Role
from app.server.runner import ServeOptions, build_context

from server_support import serve_context


def created_token(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    """Run `swapcast ...` that prints a token; (its id, the token)."""
    assert main(list(args)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    token_id = lines[0].split(" token ")[1].split()[0]
    return token_id, lines[-1]


def test_create_list_revoke_with_an_owner_only_file(capsys: pytest.CaptureFixture[str]) -> None:
    viewer_id, viewer = created_token(capsys, "tokens", "create", "--role", "viewer", "--label", "obs laptop")
    operator_id, operator = created_token(capsys, "tokens", "create", "--role", "operator")
    assert viewer.startswith("sc_") and viewer != operator
    path = user_paths().settings / "tokens.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert viewer not in path.read_text() and operator not in path.read_text()

    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert viewer not in listing  # never shown again
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert rows[viewer_id][1] == "viewer" and listing.splitlines()[1].endswith("obs laptop")
    assert rows[operator_id][1] == "operator"

    assert main(["tokens", "revoke", viewer_id]) == 0
    assert f"revoked viewer token {viewer_id} (obs laptop)" in capsys.readouterr().out
    assert main(["tokens", "list", "--json"]) == 0
    left = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["id"], t["role"]) for t in left] == [(operator_id, "operator")]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # still, after the rewrite


def test_bad_role_and_unknown_id_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tokens", "create", "--role", "superuser"])
    assert exit_info.value.code == 2
    assert "unknown role 'superuser' — use one of: viewer, operator, admin" in capsys.readouterr().err
    assert main(["tokens", "revoke", "deadbeef"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "swapcast: error: no token with id deadbeef — list them with `swapcast tokens list`"
    assert not (user_paths().settings / "tokens.json").exists()  # nothing written


def test_a_running_server_takes_cli_tokens_at_once_and_drops_revoked_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    # The context `swapcast serve` builds: the user's settings folder, where the CLI writes.
    with serve_context(build_context(ServeOptions())) as server:
        token_id, token = created_token(capsys, "tokens", "create", "--role", "viewer")
        _, admin = created_token(capsys, "serve", "--show-token")
        with server.client(role=None) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/status", headers=auth).status_code == 200
            assert server.context.tokens.verify(admin).role is Role.ADMIN
            assert client.get("/api/status", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
            assert main(["tokens", "revoke", token_id]) == 0
            refused = client.get("/api/status", headers=auth)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
