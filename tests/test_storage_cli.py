"""`swapcast storage list | test NAME` against the SeaweedFS test server: success, and one line for each
failure a user meets (unknown bucket, denied, unreachable endpoint, clock skew); never a credential."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from app.cli.main import main
from app.paths import user_paths
from app.storage import upload
from storage_support import (  # noqa: F401
    READONLY_KEY,
    READONLY_SECRET,
    SECRET_KEY,
    SeaweedServer,
    free_ports,
    s3_env,
    seaweedfs,
)


def _write_storage(profiles: dict) -> Path:
    settings = user_paths().settings
    settings.mkdir(parents=True, exist_ok=True)
    path = settings / "storage.json"
    path.write_text(json.dumps({"profiles": profiles}), encoding="utf-8")
    return path


def _profile(server: SeaweedServer, **extra: object) -> dict:
    return {"kind": "s3", "bucket": server.bucket, "prefix": "probe/", "endpoint": server.endpoint,
            "region": "us-east-1", **extra}


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert SECRET_KEY not in captured.err + captured.out and READONLY_SECRET not in captured.err + captured.out
    return lines[0]


def test_storage_test_writes_reads_back_and_deletes(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str]) -> None:
    _write_storage({"seaweed": _profile(s3_env)})
    assert main(["storage", "test", "seaweed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("storage seaweed: ok — wrote, read back and deleted")
    assert f"s3://{s3_env.bucket}/probe/.swapcast-storage-test-" in out
    assert s3_env.keys(prefix="probe/") == []  # cleaned up


def test_storage_test_of_an_s3_uri_from_the_environment(s3_env: SeaweedServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["storage", "test", f"s3://{s3_env.bucket}/envprobe/"]) == 0
    assert "ok" in capsys.readouterr().out
    assert s3_env.keys(prefix="envprobe/") == []


def test_storage_test_unknown_bucket(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str]) -> None:
    _write_storage({"nobucket": _profile(s3_env, bucket="not-made-here")})
    assert main(["storage", "test", "nobucket"]) == 1
    line = _one_error_line(capsys)
    assert "storage nobucket: failed writing:" in line and "bucket 'not-made-here' does not exist" in line


def test_storage_test_denied(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    _write_storage({"seaweed": _profile(s3_env)})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READONLY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READONLY_SECRET)
    assert main(["storage", "test", "seaweed"]) == 1
    line = _one_error_line(capsys)
    assert "storage seaweed: failed writing:" in line and "access denied" in line
    assert s3_env.keys(prefix="probe/") == []


def test_storage_test_unknown_access_key(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _write_storage({"seaweed": _profile(s3_env)})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody-knows-this-key")
    assert main(["storage", "test", "seaweed"]) == 1
    assert "access denied" in _one_error_line(capsys)


def test_storage_test_unreachable_endpoint(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload, "BACKOFF_S", 0.0)
    down = f"http://127.0.0.1:{free_ports(1)[0]}"
    _write_storage({"down": _profile(s3_env, endpoint=down)})
    assert main(["storage", "test", "down"]) == 1
    line = _one_error_line(capsys)
    assert f"cannot reach the storage endpoint {down}" in line


def test_storage_test_clock_skew(s3_env: SeaweedServer, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - datetime.timedelta(hours=2))
    _write_storage({"seaweed": _profile(s3_env)})
    assert main(["storage", "test", "seaweed"]) == 1
    line = _one_error_line(capsys)
    assert "clock differs from the store's" in line and "NTP" in line


def test_storage_test_unknown_profile_and_missing_credentials(s3_env: SeaweedServer, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _write_storage({"seaweed": _profile(s3_env)})
    assert main(["storage", "test", "nope"]) == 1
    assert "no storage profile named 'nope' (known: seaweed)" in _one_error_line(capsys)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert main(["storage", "test", "seaweed"]) == 1
    assert "failed checking" in (line := _one_error_line(capsys)) and "no storage credentials" in line


def test_storage_list_shows_profiles_and_where_credentials_come_from(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    assert main(["storage", "list"]) == 0
    assert "no storage profiles" in capsys.readouterr().out
    _write_storage({
        "renders": {"kind": "r2", "bucket": "renders", "account_id": "0123456789abcdef0123456789abcdef",
                    "prefix": "out/", "presign_expiry_s": 3600, "credentials_profile": "cf"},
        "archive": {"kind": "local", "path": str(tmp_path / "archive")},
    })
    assert main(["storage", "list"]) == 0
    out = capsys.readouterr().out
    assert "renders  r2" in out and "renders/out/" in out and "3600s" in out
    assert "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com" in out
    assert "AWS credentials file, profile 'cf'" in out
    assert main(["storage", "list", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in document["profiles"]] == ["renders", "archive"]


def test_storage_list_with_a_broken_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    _write_storage({"renders": {"kind": "s3", "bucket": "bkt", "secret_access_key": "do-not-store"}})
    assert main(["storage", "list"]) == 2
    line = _one_error_line(capsys)
    assert "profile 'renders': secret_access_key is not a known setting" in line
