"""Uploads and downloads against a real S3-compatible server (SeaweedFS on 127.0.0.1, tests/storage_support.py):
round trips, multipart, cancel and failures leaving no object, presigned links, limits, profiles."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from app.paths import user_paths
from app.storage import upload
from app.storage.download import download_object
from app.storage.object_target import is_object_uri, resolve_output
from app.storage.upload import StoredObject, UploadCancelled, upload_object
from app.storage.profiles import StorageConfigError, StorageKind, load_profiles
from engines.errors import InputError, OutputError, TransientError
from storage_support import READONLY_KEY, READONLY_SECRET, SeaweedServer, s3_env, seaweedfs  # noqa: F401


def _file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def _no_uploads_left(server: SeaweedServer, prefix: str) -> bool:
    answer = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    return not answer.get("Uploads")


def _write_storage(profiles: dict) -> Path:
    settings = user_paths().settings
    settings.mkdir(parents=True, exist_ok=True)
    path = settings / "storage.json"
    path.write_text(json.dumps({"profiles": profiles}), encoding="utf-8")
    return path


def test_small_file_round_trip_is_byte_identical(s3_env: SeaweedServer, tmp_path: Path) -> None:
    local = _file(tmp_path / "clip.mp4", 300_000)
    stored = upload_object(local, f"s3://{s3_env.bucket}/rt/clip.mp4")
    assert isinstance(stored, StoredObject)
    assert stored.size == 300_000 and stored.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert stored.presigned_url is None  # no profile asked for one
    assert s3_env.read("rt/clip.mp4") == local.read_bytes()
    back = download_object(stored.uri, tmp_path / "in" / "clip.mp4", max_bytes=10**9)
    assert back.read_bytes() == local.read_bytes()
    assert not (tmp_path / "in" / "clip.mp4.part").exists()


def test_large_file_goes_multipart_is_verified_and_keeps_its_sha256(s3_env: SeaweedServer, tmp_path: Path) -> None:
    local = _file(tmp_path / "big.mp4", 40 * 1024 * 1024 + 123)  # 3 parts of 16 MiB
    seen: list[tuple[int, int | None]] = []
    stored = upload_object(local, f"s3://{s3_env.bucket}/big/big.mp4", progress=lambda d, t: seen.append((d, t)))
    head = s3_env.client().head_object(Bucket=s3_env.bucket, Key="big/big.mp4")
    assert head["ContentLength"] == local.stat().st_size
    assert head["ETag"].strip('"').endswith("-3")  # assembled from 3 parts
    assert head["Metadata"]["sha256"] == stored.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert seen[-1] == (local.stat().st_size, local.stat().st_size)
    assert s3_env.read("big/big.mp4") == local.read_bytes()
    assert _no_uploads_left(s3_env, "big/")


def test_cancel_mid_upload_leaves_no_object_and_no_pending_upload(s3_env: SeaweedServer, tmp_path: Path) -> None:
    local = _file(tmp_path / "big.mp4", 100 * 1024 * 1024)
    progressed: list[int] = []
    with pytest.raises(UploadCancelled):
        upload_object(local, f"s3://{s3_env.bucket}/cancel/out.mp4", progress=lambda d, t: progressed.append(d),
                      cancelled=lambda: bool(progressed))  # cancel once the first part is in
    assert progressed  # it was under way
    assert s3_env.keys(prefix="cancel/") == []
    assert _no_uploads_left(s3_env, "cancel/")


def test_an_unknown_bucket_fails_in_one_line_before_anything_is_written(s3_env: SeaweedServer, tmp_path: Path) -> None:
    local = _file(tmp_path / "big.mp4", 20 * 1024 * 1024)
    with pytest.raises(OutputError) as caught:
        upload_object(local, "s3://no-such-bucket-here/x/out.mp4")
    line = caught.value.one_line()
    assert "bucket 'no-such-bucket-here' does not exist" in line and "\n" not in line
    assert "no-such-bucket-here" not in [b["Name"] for b in s3_env.client().list_buckets().get("Buckets", [])]


def test_denied_credentials_fail_in_one_line_and_leave_no_object(s3_env: SeaweedServer, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    local = _file(tmp_path / "big.mp4", 20 * 1024 * 1024)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READONLY_KEY)  # may read, may not write
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READONLY_SECRET)
    with pytest.raises(OutputError) as caught:
        upload_object(local, f"s3://{s3_env.bucket}/denied/out.mp4")
    assert "access denied" in caught.value.one_line()
    assert READONLY_SECRET not in caught.value.one_line()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all-000000")
    with pytest.raises(OutputError) as caught:
        upload_object(local, f"s3://{s3_env.bucket}/denied/out.mp4")
    assert "access denied" in caught.value.one_line() and "not-the-secret" not in caught.value.one_line()
    assert s3_env.keys(prefix="denied/") == []


def test_an_unreachable_endpoint_is_a_transient_one_line(s3_env: SeaweedServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from storage_support import free_ports

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    monkeypatch.setattr(upload, "BACKOFF_S", 0.0)
    with pytest.raises(TransientError) as caught:
        upload_object(_file(tmp_path / "a.bin", 1000), f"s3://{s3_env.bucket}/x/a.bin")
    assert "cannot reach the storage endpoint" in caught.value.one_line()


def test_plain_http_endpoint_is_refused_unless_loopback_or_allowed(s3_env: SeaweedServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://storage.example.com:9000")
    with pytest.raises(OutputError, match="plain http"):
        resolve_output("s3://bucket/out.mp4")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    assert resolve_output("s3://bucket/out.mp4").endpoint == "http://storage.example.com:9000"


def test_missing_credentials_are_found_before_any_work(s3_env: SeaweedServer, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(OutputError, match="no storage credentials"):
        resolve_output(f"s3://{s3_env.bucket}/out.mp4")


def test_presigned_link_from_a_profile_downloads_the_same_bytes(s3_env: SeaweedServer, tmp_path: Path) -> None:
    _write_storage({"renders": {"kind": "s3", "bucket": s3_env.bucket, "prefix": "renders/",
                                "endpoint": s3_env.endpoint, "region": "us-east-1", "presign_expiry_s": 600}})
    local = _file(tmp_path / "out.mp4", 12 * 1024 * 1024)
    stored = upload_object(local, "renders:job1/out.mp4")
    assert stored.uri == "renders:job1/out.mp4"
    assert s3_env.keys(prefix="renders/job1/") == ["renders/job1/out.mp4"]
    assert stored.presigned_url and stored.presigned_expires_at
    assert "X-Amz-Expires=600" in stored.presigned_url
    answer = httpx.get(stored.presigned_url, timeout=30)
    assert answer.status_code == 200 and answer.content == local.read_bytes()
    assert httpx.get(stored.presigned_url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30).status_code == 403


def test_key_ending_in_slash_takes_the_local_name(s3_env: SeaweedServer, tmp_path: Path) -> None:
    stored = upload_object(_file(tmp_path / "named.mp4", 1000), f"s3://{s3_env.bucket}/folder/")
    assert stored.uri == f"s3://{s3_env.bucket}/folder/named.mp4"
    assert "folder/named.mp4" in s3_env.keys(prefix="folder/")


def test_download_over_the_size_limit_is_refused_and_writes_nothing(s3_env: SeaweedServer, tmp_path: Path) -> None:
    s3_env.client().put_object(Bucket=s3_env.bucket, Key="limit/in.mp4", Body=os.urandom(50_000))
    with pytest.raises(InputError, match="over the 10000-byte input limit"):
        download_object(f"s3://{s3_env.bucket}/limit/in.mp4", tmp_path / "in.mp4", max_bytes=10_000)
    assert not (tmp_path / "in.mp4").exists() and not (tmp_path / "in.mp4.part").exists()


def test_download_resumes_a_partial_file(s3_env: SeaweedServer, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    s3_env.client().put_object(Bucket=s3_env.bucket, Key="resume/in.mp4", Body=data)
    (tmp_path / "in.mp4.part").write_bytes(data[:1_000_000])
    seen: list[int] = []
    out = download_object(f"s3://{s3_env.bucket}/resume/in.mp4", tmp_path / "in.mp4", max_bytes=10**9,
                          progress=lambda d, t: seen.append(d))
    assert out.read_bytes() == data
    assert seen[0] > 1_000_000  # it went on from the partial file


def test_download_of_a_missing_object_says_so(s3_env: SeaweedServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such object"):
        download_object(f"s3://{s3_env.bucket}/nothing/here.mp4", tmp_path / "x.mp4", max_bytes=10**9)


def test_local_profile_copies_atomically(tmp_path: Path) -> None:
    _write_storage({"archive": {"kind": "local", "path": str(tmp_path / "archive"), "prefix": "out/"}})
    local = _file(tmp_path / "clip.mp4", 5000)
    stored = upload_object(local, "archive:clip.mp4")
    assert (tmp_path / "archive" / "out" / "clip.mp4").read_bytes() == local.read_bytes()
    assert stored.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    with pytest.raises(UploadCancelled):
        upload_object(local, "archive:other.mp4", cancelled=lambda: True)
    assert sorted(p.name for p in (tmp_path / "archive" / "out").iterdir()) == ["clip.mp4"]
    back = download_object("archive:clip.mp4", tmp_path / "back.mp4", max_bytes=10**6)
    assert back.read_bytes() == local.read_bytes()


# ------------------------------------------------------------------ profiles (no server)

@pytest.mark.parametrize(("profiles", "expected"), [
    ({"pp": {"kind": "ftp", "bucket": "abc"}}, "storage.json: profile 'pp': kind must be one of"),
    ({"pp": {"kind": "s3"}}, "storage.json: profile 'pp': bucket is missing"),
    ({"pp": {"kind": "s3", "bucket": "abc", "secret_access_key": "s"}},
     "storage.json: profile 'pp': secret_access_key is not a known setting"),
    ({"pp": {"kind": "s3", "bucket": "abc", "presign_expiry_s": 0}},
     "storage.json: profile 'pp': presign_expiry_s must be at least 1"),
    ({"pp": {"kind": "r2", "bucket": "abc"}}, "storage.json: profile 'pp': kind \"r2\" needs account_id"),
    ({"pp": {"kind": "local"}}, "storage.json: profile 'pp': path is missing"),
    ({"1x": {"kind": "local", "path": "/tmp"}}, "is not a valid name"),
    ({"pp": {"kind": "s3", "bucket": "abc", "endpoint": "ftp://h"}}, "endpoint \"ftp://h\" does not match"),
])
def test_profile_schema_errors_are_one_line(profiles: dict, expected: str) -> None:
    _write_storage(profiles)
    with pytest.raises(StorageConfigError) as caught:
        load_profiles()
    line = caught.value.one_line()
    assert expected in line, line
    assert "\n" not in line and "edit " in line


def test_broken_json_and_unknown_profile_are_one_line() -> None:
    path = _write_storage({})
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StorageConfigError, match="not valid JSON"):
        load_profiles()
    _write_storage({"a1": {"kind": "local", "path": "/tmp"}})
    with pytest.raises(StorageConfigError, match=r"no storage profile named 'zz' \(known: a1\)"):
        resolve_output("zz:out.mp4")


def test_profile_mapping_for_r2_and_gcs(monkeypatch: pytest.MonkeyPatch) -> None:
    """R2 and GCS go through the same S3 code path: R2's account endpoint, GCS's XML API (HMAC keys)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    _write_storage({
        "cf": {"kind": "r2", "bucket": "renders", "account_id": "0123456789abcdef0123456789abcdef", "prefix": "p/"},
        "gc": {"kind": "gcs", "bucket": "my-bucket", "presign_expiry_s": 3600},
    })
    r2 = resolve_output("cf:a.mp4")
    assert (r2.kind, r2.bucket, r2.key, r2.region) == (StorageKind.R2, "renders", "p/a.mp4", "auto")
    assert r2.endpoint == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    gcs = resolve_output("gc:a.mp4")
    assert (gcs.endpoint, gcs.key, gcs.presign_expiry_s) == ("https://storage.googleapis.com", "a.mp4", 3600)
    assert resolve_output("gs://b/k.mp4").endpoint == "https://storage.googleapis.com"
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "ffff")
    assert resolve_output("r2://b/k.mp4").endpoint == "https://ffff.r2.cloudflarestorage.com"


def test_object_uri_recognition(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _write_storage({"renders": {"kind": "local", "path": str(tmp_path)}})
    assert is_object_uri("s3://b/k") and is_object_uri("gs://b/k") and is_object_uri("r2://b/k")
    assert is_object_uri("renders:x.mp4")
    assert not is_object_uri("other:x.mp4")  # not a profile: a local name
    assert not is_object_uri("C:\\video.mp4") and not is_object_uri("https://h/x")
    with pytest.raises(InputError, match="no bucket name"):
        resolve_output("s3:///key.mp4")


def test_a_stored_size_or_etag_that_does_not_match_removes_the_object(s3_env: SeaweedServer, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What the store reports after the upload is compared with the local file: a mismatch is a failure,
    and the object it reported on is not left behind."""
    real = upload._verify
    monkeypatch.setattr(upload, "_verify", lambda client, target, size, etag: real(client, target, size + 1, etag))
    with pytest.raises(OutputError, match="the object was removed"):
        upload_object(_file(tmp_path / "a.mp4", 10 * 1024 * 1024), f"s3://{s3_env.bucket}/verify/a.mp4")
    assert s3_env.keys(prefix="verify/") == []


def test_a_process_killed_mid_upload_leaves_no_object_under_the_key(s3_env: SeaweedServer, tmp_path: Path) -> None:
    """A crash (not a cancel: nothing gets to abort) leaves at most an incomplete multipart upload,
    never an object under the final key."""
    import subprocess
    import sys

    local = _file(tmp_path / "big.mp4", 50 * 1024 * 1024)
    script = ("import os, sys\n"
              "from pathlib import Path\n"
              "from app.storage.upload import upload_object\n"
              "def progress(done, total):\n"
              "    os._exit(9)  # dies once the first part is in\n"
              "upload_object(Path(sys.argv[1]), sys.argv[2], progress=progress)\n")
    uri = f"s3://{s3_env.bucket}/crash/out.mp4"
    result = subprocess.run([sys.executable, "-c", script, str(local), uri], env={**os.environ},
                            cwd=Path(__file__).resolve().parents[1], capture_output=True, timeout=120)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    assert s3_env.keys(prefix="crash/") == []
    pending = s3_env.client().list_multipart_uploads(Bucket=s3_env.bucket, Prefix="crash/").get("Uploads", [])
    for upload in pending:  # what a lifecycle rule would reclaim (docs/STORAGE.md)
        s3_env.client().abort_multipart_upload(Bucket=s3_env.bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def test_a_part_that_fails_transiently_is_sent_again_and_the_upload_completes(s3_env: SeaweedServer, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The store answers 503 SlowDown for one part (after botocore's own retries): that part is sent
    again after a pause and the object is complete and byte-identical."""
    from botocore.exceptions import ClientError

    real_client = upload.client_for
    attempts: list[int] = []

    def flaky_client(target):  # noqa: ANN001, ANN202 — the real client; one part answered 503 once
        client = real_client(target)
        real_upload_part = client.upload_part

        def upload_part(**kwargs):  # noqa: ANN003, ANN202
            attempts.append(kwargs["PartNumber"])
            if kwargs["PartNumber"] == 2 and attempts.count(2) == 1:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "busy"},
                                   "ResponseMetadata": {"HTTPStatusCode": 503}}, "UploadPart")
            return real_upload_part(**kwargs)

        client.upload_part = upload_part
        return client

    monkeypatch.setattr(upload, "client_for", flaky_client)
    monkeypatch.setattr(upload, "BACKOFF_S", 0.01)
    local = _file(tmp_path / "big.mp4", 40 * 1024 * 1024)  # 3 parts
    stored = upload_object(local, f"s3://{s3_env.bucket}/retry/big.mp4")
    assert sorted(attempts) == [1, 2, 2, 3]
    assert s3_env.read("retry/big.mp4") == local.read_bytes() and stored.size == local.stat().st_size
    assert _no_uploads_left(s3_env, "retry/")
