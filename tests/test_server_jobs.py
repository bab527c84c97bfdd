"""The jobs endpoints and uploads, through a real uvicorn server (tests/server_support.py) and httpx.

Jobs that must complete run on the real runner (a LocalExecutor in the test) with the generated kit."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from app.cli.main import main
from app.offline import load_runner_factory
from app.jobs.executor import LocalExecutor
from app.jobs.model import JobSpec, JobState
from app.media.probe import probe
from app.server.roles import Role
from server_support import RunningServer, running_server


@pytest.fixture(autouse=True)
def kit_models(kit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's engine uses the generated kit (as `swapcast serve --models KIT` would)."""
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    return kit_dir


def _samples(kit_dir: Path) -> Path:
    return kit_dir / "samples"


def _upload(kit_dir: Path, target: str = "target.png", **options: str) -> dict[str, Any]:
    samples = _samples(kit_dir)
    files = [
        ("source", ("face.png", (samples / "source_a.png").read_bytes(), "image/png")),
        ("target", (target, (samples / target).read_bytes(), "video/mp4" if target.endswith(".mp4") else "image/png")),
    ]
    return {"files": files, "data": options}


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _run_queue(server: RunningServer, job_id: int) -> None:
    """The real runner on this job, as `swapcast serve --workers 1` would run it."""
    LocalExecutor(server.context.store, load_runner_factory(), workers=1, poll_s=0.05).run(
        job_ids=[job_id])


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert body["ok"] is False
    assert "\n" not in body["error"]["message"]
    return body["error"]


# ---- a job over HTTP, start to finish ----------------------------------------------------------


def test_an_uploaded_video_job_completes_and_its_output_downloads_with_range(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        response = client.post("/api/jobs", **_upload(kit_dir, "target.mp4", output="result.mp4"))
        assert response.status_code == 201, response.text
        job = response.json()["data"]
        assert job["state"] == "PENDING"
        # Stored under the server's own folder with generated names, not the client's.
        stored = server.context.store.get(job["id"]).spec
        uploads = (tmp_path / "uploads").resolve()
        for path in [*stored.sources, *stored.targets]:
            assert Path(path).is_relative_to(uploads)
            assert Path(path).name not in ("face.png", "target.mp4")
        assert Path(stored.targets[0]).suffix == ".mp4"
        assert Path(stored.output).name == "result.mp4"
        assert Path(stored.output).is_relative_to(uploads / "outputs")

        _run_queue(server, job["id"])

        done = client.get(f"/api/jobs/{job['id']}").json()["data"]
        assert done["state"] == "COMPLETED", done["error"]
        assert done["outputs"][0]["url"] == f"/api/jobs/{job['id']}/output"
        with server.client(Role.VIEWER) as viewer:
            whole = viewer.get(done["outputs"][0]["url"])
            assert whole.status_code == 200
            assert whole.headers["content-type"] == "video/mp4"
            assert whole.headers["accept-ranges"] == "bytes"
            downloaded = tmp_path / "downloaded.mp4"
            downloaded.write_bytes(whole.content)
            assert probe(downloaded).frame_count == probe(_samples(kit_dir) / "target.mp4").frame_count
            part = viewer.get(done["outputs"][0]["url"], headers={"Range": "bytes=100-1099"})
            assert part.status_code == 206
            assert part.content == whole.content[100:1100]
            assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"


def test_an_uploaded_image_job_gives_a_picture_of_the_targets_size(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        job = client.post("/api/jobs", **_upload(kit_dir)).json()["data"]
        assert job["outputs"][0]["name"] == "swapped.png"  # no name given: 'swapped' + the target's extension
        _run_queue(server, job["id"])
        output = client.get(f"/api/jobs/{job['id']}/output")
        assert output.status_code == 200 and output.headers["content-type"] == "image/png"
        (tmp_path / "out.png").write_bytes(output.content)
        with Image.open(tmp_path / "out.png") as picture, Image.open(_samples(kit_dir) / "target.png") as target:
            assert picture.format == "PNG" and picture.size == target.size


def test_a_job_posted_over_http_shows_in_the_cli_list(tmp_path: Path, kit_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SWAPCAST_HOME", str(tmp_path))  # the CLI's jobs database is the server's
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        job = client.post("/api/jobs", **_upload(kit_dir)).json()["data"]
        capsys.readouterr()
        assert main(["jobs", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [j["id"] for j in listed] == [job["id"]]
        assert [Path(t).name for t in listed[0]["spec"]["targets"]] == job["spec"]["targets"]


def test_a_job_added_with_the_cli_appears_in_get_jobs(tmp_path: Path, kit_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPCAST_HOME", str(tmp_path))
    samples = _samples(kit_dir)
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as client, server.client() as admin:
        code = main(["jobs", "add", "-s", str(samples / "source_a.png"), "-t", str(samples / "target.png"),
                     "-o", str(tmp_path / "cli-out.png")])
        assert code == 0
        jobs = client.get("/api/jobs").json()["data"]["jobs"]
        assert len(jobs) == 1
        assert jobs[0]["state"] == "PENDING"
        assert jobs[0]["spec"]["output"] == "cli-out.png"  # a viewer: file names, not the server's paths
        assert admin.get(f"/api/jobs/{jobs[0]['id']}").json()["data"]["spec"]["sources"] == [
            str((samples / "source_a.png").resolve())]


def test_only_an_admin_sees_the_servers_paths_in_a_job(tmp_path: Path, kit_dir: Path) -> None:
    """Operators and viewers are remote clients: file names and download URLs, never where the server
    keeps the files (inputs, output, models folder, paths in the error); an admin sees them as the CLI does."""
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as operator, \
            server.client(Role.VIEWER) as viewer, server.client(Role.ADMIN) as admin:
        posted = operator.post("/api/jobs", **_upload(kit_dir, output="result.png"))
        assert posted.status_code == 201, posted.text
        job_id = posted.json()["data"]["id"]
        stored = server.context.store.get(job_id).spec
        _run_queue(server, job_id)
        failing = server.context.store.add(JobSpec(sources=stored.sources, targets=stored.targets,
                                                   output=str(tmp_path / "elsewhere" / "x.png"), models=str(kit_dir)))
        server.context.store.claim("worker-a", lease_s=30)
        server.context.store.fail(failing.id, f"cannot write '{tmp_path / 'elsewhere' / 'x.png'}'", transient=False,
                                  worker_id="worker-a")
        for client in (operator, viewer):
            answers = [posted, client.get("/api/jobs"), client.get(f"/api/jobs/{job_id}"),
                       client.get(f"/api/jobs/{failing.id}")]
            for answer in answers:
                assert str(tmp_path) not in answer.text and str(kit_dir) not in answer.text, answer.text
            job = answers[2].json()["data"]
            assert job["spec"]["sources"] == [Path(stored.sources[0]).name]
            assert job["spec"]["targets"] == [Path(stored.targets[0]).name]
            assert job["spec"]["output"] == job["output"] == "result.png"
            assert client.get(job["outputs"][0]["url"]).status_code == 200  # fetched by its URL
            failed = answers[3].json()["data"]
            assert failed["error"] == "cannot write 'x.png'" and failed["spec"]["models"] == kit_dir.name
        seen = admin.get(f"/api/jobs/{job_id}").json()["data"]
        assert seen["spec"]["sources"] == stored.sources and seen["output"] == stored.output
        assert admin.get(f"/api/jobs/{failing.id}").json()["data"]["error"] == f"cannot write '{tmp_path / 'elsewhere' / 'x.png'}'"


def test_a_presigned_inputs_signature_is_an_admins_to_see(tmp_path: Path, kit_dir: Path) -> None:
    """A presigned input URL's query is a key to read the file: remote clients see where it comes from
    (scheme, host, path), not the signature or a password in the URL."""
    signed = "https://bucket.example.com/in/clip.mp4?X-Amz-Credential=AKIA&X-Amz-Signature=SECRETsig"
    with_password = "https://bob:SECRETpw@media.example.com/face.png"
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer, \
            server.client(Role.ADMIN) as admin:
        job = server.context.store.add(JobSpec(sources=[with_password], targets=[signed],
                                               output=str(tmp_path / "out.mp4"), models=str(kit_dir)))
        for answer in (viewer.get(f"/api/jobs/{job.id}"), viewer.get("/api/jobs")):
            assert answer.status_code == 200 and "SECRET" not in answer.text, answer.text
        spec = viewer.get(f"/api/jobs/{job.id}").json()["data"]["spec"]
        assert spec["targets"] == ["https://bucket.example.com/in/clip.mp4?****"]
        assert spec["sources"] == ["https://****@media.example.com/face.png"]
        assert admin.get(f"/api/jobs/{job.id}").json()["data"]["spec"]["targets"] == [signed]


# ---- roles ---------------------------------------------------------------------------------------


def test_a_viewer_cannot_post_a_job_and_nothing_is_stored(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server:
        with server.client(Role.VIEWER) as viewer:
            response = viewer.post("/api/jobs", **_upload(kit_dir))
            assert response.status_code == 403
            assert _error(response)["code"] == "forbidden"
            job_id = server.context.store.add(JobSpec(sources=[str(_samples(kit_dir) / "source_a.png")],
                                                      targets=[str(_samples(kit_dir) / "target.png")],
                                                      output=str(tmp_path / "o.png"))).id
            for method, url in (("POST", f"/api/jobs/{job_id}/cancel"), ("POST", f"/api/jobs/{job_id}/retry"),
                                ("DELETE", f"/api/jobs/{job_id}")):
                assert viewer.request(method, url).status_code == 403
        with server.client(None) as anonymous:
            assert anonymous.get("/api/jobs").status_code == 401
        assert [j.id for j in server.context.store.list()] == [job_id]
        assert _files_under(tmp_path / "uploads") == []


# ---- listing -------------------------------------------------------------------------------------


def test_get_jobs_filters_by_state_and_pages_newest_first(tmp_path: Path, kit_dir: Path) -> None:
    samples = _samples(kit_dir)
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as client:
        store = server.context.store
        ids = [store.add(JobSpec(sources=[str(samples / "source_a.png")], targets=[str(samples / "target.png")],
                                 output=str(tmp_path / f"o{n}.png"))).id for n in range(3)]
        store.cancel(ids[1])

        page = client.get("/api/jobs", params={"limit": 2}).json()["data"]
        assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]]
        assert page["total"] == 3
        rest = client.get("/api/jobs", params={"limit": 2, "offset": 2}).json()["data"]
        assert [j["id"] for j in rest["jobs"]] == [ids[0]]

        cancelled = client.get("/api/jobs", params={"state": "cancelled"}).json()["data"]
        assert [j["id"] for j in cancelled["jobs"]] == [ids[1]]
        both = client.get("/api/jobs", params=[("state", "pending"), ("state", "CANCELLED")]).json()["data"]
        assert {j["id"] for j in both["jobs"]} == set(ids)

        bad = client.get("/api/jobs", params={"state": "done"})
        assert bad.status_code == 400
        assert "pending" in _error(bad)["message"]
        assert client.get("/api/jobs", params={"limit": 0}).status_code == 422

        missing = client.get("/api/jobs/999")
        assert missing.status_code == 404
        assert _error(missing)["code"] == "job_not_found"


# ---- cancel / retry / delete / output ------------------------------------------------------------


def test_cancel_retry_and_delete_over_http_and_the_uploads_go_with_the_job(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        job = client.post("/api/jobs", **_upload(kit_dir)).json()["data"]
        url = f"/api/jobs/{job['id']}"
        stored = _files_under(tmp_path / "uploads")
        assert len(stored) == 2

        not_yet = client.get(url + "/output")
        assert not_yet.status_code == 409
        assert "pending" in _error(not_yet)["message"]

        assert client.post(url + "/cancel").json()["data"]["state"] == "CANCELLED"
        again = client.post(url + "/cancel")  # already cancelled: a no-op
        assert again.status_code == 200
        assert client.post(url + "/retry").json()["data"]["state"] == "PENDING"
        assert server.context.store.get(job["id"]).state is JobState.PENDING

        retry_pending = client.post(url + "/retry")
        assert retry_pending.status_code == 409
        assert _error(retry_pending)["code"] == "conflict"

        deleted = client.delete(url)
        assert deleted.status_code == 200
        assert _files_under(tmp_path / "uploads") == []
        assert _error(client.get(url))["code"] == "job_not_found"
        for method, path in (("POST", url + "/cancel"), ("POST", url + "/retry"), ("DELETE", url),
                             ("GET", url + "/output")):
            response = client.request(method, path)
            assert response.status_code == 404 and _error(response)["code"] == "job_not_found"


def test_a_running_job_cannot_be_deleted_and_has_no_output_yet(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        job = client.post("/api/jobs", **_upload(kit_dir)).json()["data"]
        claimed = server.context.store.claim("test-worker", lease_s=60)
        assert claimed is not None and claimed.id == job["id"]
        refused = client.delete(f"/api/jobs/{job['id']}")
        assert refused.status_code == 409
        assert f"/api/jobs/{job['id']}/cancel" in _error(refused)["message"]
        assert server.context.store.get(job["id"]).state is JobState.PROCESSING
        assert len(_files_under(tmp_path / "uploads")) == 2
        assert client.get(f"/api/jobs/{job['id']}/output").status_code == 409
        flagged = client.post(f"/api/jobs/{job['id']}/cancel").json()["data"]
        assert flagged["state"] == "PROCESSING" and flagged["cancel_requested"] is True


def test_retrying_a_completed_upload_job_replaces_its_output(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        job = client.post("/api/jobs", **_upload(kit_dir)).json()["data"]
        _run_queue(server, job["id"])
        retried = client.post(f"/api/jobs/{job['id']}/retry").json()["data"]
        assert retried["spec"]["overwrite"] is True  # the server's own folder: nothing to protect
        _run_queue(server, job["id"])
        assert client.get(f"/api/jobs/{job['id']}").json()["data"]["state"] == "COMPLETED"


# ---- uploads: size, format ------------------------------------------------------------------------


def _raw_request(server: RunningServer, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, Any]]:
    """Send a request by hand and read the answer without finishing the body: the server must answer
    on what it has."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        for part in body_parts:
            sock.sendall(part)
        received = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk or time.monotonic() > deadline:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _multipart_head(server: RunningServer, boundary: str, extra: str) -> str:
    return (f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.tokens[Role.OPERATOR]}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n{extra}\r\n")


def test_an_oversized_upload_is_413_at_once_with_nothing_queued_or_left(tmp_path: Path, kit_dir: Path) -> None:
    limit = 64 * 1024
    with running_server(tmp_path, max_upload_bytes=limit) as server:
        boundary = "xyzboundary"
        # Content-Length over the limit: refused before a byte of the body is sent.
        status, body = _raw_request(server, _multipart_head(server, boundary, f"Content-Length: {limit * 50}\r\n"), [])
        assert status == 413 and body["error"]["code"] == "too_large"
        assert "limit" in body["error"]["message"]

        # No length given (chunked): refused as soon as the limit is passed, mid-file, the rest never sent.
        part_head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"target\"; filename=\"big.mp4\"\r\n"
                     "Content-Type: video/mp4\r\n\r\n").encode()
        chunks = [part_head] + [os.urandom(16 * 1024) for _ in range(6)]
        encoded = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks]
        status, body = _raw_request(server, _multipart_head(server, boundary, "Transfer-Encoding: chunked\r\n"), encoded)
        assert status == 413 and body["error"]["code"] == "too_large"

        with server.client(Role.OPERATOR) as client:  # and through an ordinary client
            big = [("source", ("face.png", (_samples(kit_dir) / "source_a.png").read_bytes(), "image/png")),
                   ("target", ("big.mp4", os.urandom(limit * 2), "video/mp4"))]
            response = client.post("/api/jobs", files=big)
            assert response.status_code == 413 and _error(response)["code"] == "too_large"
        assert server.context.store.list() == []
        assert _files_under(tmp_path / "uploads") == []


def test_a_text_file_named_mp4_is_415_with_nothing_queued(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        fake = [("source", ("face.png", (_samples(kit_dir) / "source_a.png").read_bytes(), "image/png")),
                ("target", ("clip.mp4", b"this is not a video\n" * 50, "video/mp4"))]
        response = client.post("/api/jobs", files=fake)
        assert response.status_code == 415
        error = _error(response)
        assert error["code"] == "unsupported_media" and "clip.mp4" in error["message"]
        assert str(tmp_path) not in error["message"]  # the client's name, not the server's path

        as_text = [("source", ("face.png", b"hello", "text/plain"))]
        response = client.post("/api/jobs", files=as_text)
        assert response.status_code == 415 and "text/plain" in _error(response)["message"]

        mislabelled = [("source", ("face.mp4", (_samples(kit_dir) / "source_a.png").read_bytes(), "video/mp4")),
                       ("target", ("t.png", (_samples(kit_dir) / "target.png").read_bytes(), "image/png"))]
        response = client.post("/api/jobs", files=mislabelled)
        assert response.status_code == 415 and "holds a image" in _error(response)["message"]

        whole = (_samples(kit_dir) / "source_a.png").read_bytes()
        damaged = [("source", ("face.png", whole[: len(whole) // 2], "image/png")),
                   ("target", ("t.png", (_samples(kit_dir) / "target.png").read_bytes(), "image/png"))]
        response = client.post("/api/jobs", files=damaged)
        assert response.status_code == 415 and "damaged PNG" in _error(response)["message"]
        assert server.context.store.list() == []
        assert _files_under(tmp_path / "uploads") == []


def test_a_picture_keeps_its_real_extension_whatever_it_was_called(tmp_path: Path, kit_dir: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        files = [("source", ("face.jpeg", (_samples(kit_dir) / "source_a.png").read_bytes(), "application/octet-stream")),
                 ("target", ("t.png", (_samples(kit_dir) / "target.png").read_bytes(), "image/png"))]
        job = client.post("/api/jobs", files=files).json()["data"]
        assert Path(job["spec"]["sources"][0]).suffix == ".png"  # a PNG, though named .jpeg


def test_bad_options_are_refused_with_one_line_and_nothing_queued(tmp_path: Path, kit_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        cases = {
            "../../etc/x.png": (400, "plain file name"),
            "sub/x.png": (400, "plain file name"),
            "out.mp4": (400, "cannot be written as '.mp4'"),  # an image target: admission.check_runnable
        }
        for output, (status, words) in cases.items():
            response = client.post("/api/jobs", **_upload(kit_dir, output=output))
            assert response.status_code == status, (output, response.text)
            assert words in _error(response)["message"]
        response = client.post("/api/jobs", **_upload(kit_dir, faces="reference"))
        assert response.status_code == 400 and "--reference" in _error(response)["message"]
        response = client.post("/api/jobs", **_upload(kit_dir, quality="200"))
        assert response.status_code == 422 and "quality" in _error(response)["message"]
        response = client.post("/api/jobs", **_upload(kit_dir, colour="red"))
        assert response.status_code == 422 and "colour" in _error(response)["message"]
        only_source = [("source", ("face.png", (_samples(kit_dir) / "source_a.png").read_bytes(), "image/png"))]
        response = client.post("/api/jobs", files=only_source)
        assert response.status_code == 400 and "target" in _error(response)["message"]

        garbage = client.post("/api/jobs", content=b"--abc\r\nnot a part header\r\n\r\n" + b"x" * 1000,
                              headers={"Content-Type": "multipart/form-data; boundary=abc"})
        assert garbage.status_code == 400
        not_a_form = client.post("/api/jobs", content=b"hello", headers={"Content-Type": "text/plain"})
        assert not_a_form.status_code == 415 and "multipart/form-data" in _error(not_a_form)["message"]

        monkeypatch.delenv("SWAPCAST_MODELS")  # no models here: the job could never run
        response = client.post("/api/jobs", **_upload(kit_dir))
        assert response.status_code == 400 and "models" in _error(response)["message"]
        assert server.context.store.list() == []
        assert _files_under(tmp_path / "uploads") == []


# ---- server-side paths ---------------------------------------------------------------------------


def test_server_paths_are_refused_without_allow_paths(tmp_path: Path, kit_dir: Path) -> None:
    samples = _samples(kit_dir)
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        as_json = client.post("/api/jobs", json={"sources": [str(samples / "source_a.png")],
                                                 "targets": [str(samples / "target.png")]})
        assert as_json.status_code == 403
        assert _error(as_json)["code"] == "path_not_allowed" and "--allow-paths" in _error(as_json)["message"]
        as_form = client.post("/api/jobs", data={"source": str(samples / "source_a.png"),
                                                 "target": str(samples / "target.png")})
        assert as_form.status_code == 403 and _error(as_form)["code"] == "path_not_allowed"
        assert server.context.store.list() == []
        assert _files_under(tmp_path / "uploads") == []


def test_allow_paths_takes_paths_inside_and_refuses_escapes(tmp_path: Path, kit_dir: Path) -> None:
    samples = _samples(kit_dir)
    allowed = tmp_path / "media"
    allowed.mkdir()
    shutil.copy(samples / "source_a.png", allowed / "face.png")
    shutil.copy(samples / "target.png", allowed / "target.png")
    outside = tmp_path / "secret"
    outside.mkdir()
    shutil.copy(samples / "target.png", outside / "private.png")
    (allowed / "link.png").symlink_to(outside / "private.png")
    (allowed / "folder").mkdir()
    (allowed / "folder" / "inner.png").symlink_to(outside / "private.png")

    with running_server(tmp_path, allow_paths=(allowed,)) as server, server.client(Role.OPERATOR) as client:
        def post(**fields: Any) -> httpx.Response:
            body = {"sources": [str(allowed / "face.png")], "targets": [str(allowed / "target.png")], **fields}
            return client.post("/api/jobs", json=body)

        escapes = {
            "..": post(targets=[str(allowed / ".." / "secret" / "private.png")]),
            "symlink": post(targets=[str(allowed / "link.png")]),
            "symlink in a folder": post(targets=[str(allowed / "folder")]),
            "relative": post(targets=["media/target.png"]),
            "output outside": post(output=str(outside / "out.png")),
        }
        for name, response in escapes.items():
            assert response.status_code == 403, name
            assert _error(response)["code"] == "path_not_allowed", name
        assert server.context.store.list() == []

        inside = post(output=str(allowed / "out.png"))
        assert inside.status_code == 201, inside.text
        spec = server.context.store.get(inside.json()["data"]["id"]).spec
        assert spec.targets == [str((allowed / "target.png").resolve())]
        assert spec.output == str((allowed / "out.png").resolve())
        named = post(output="mine.png")  # a bare name: the server's own folder
        assert Path(server.context.store.get(named.json()["data"]["id"]).spec.output).is_relative_to(
            (tmp_path / "uploads").resolve())
        # Deleting a path job never touches the user's files.
        assert client.delete(f"/api/jobs/{inside.json()['data']['id']}").status_code == 200
        assert (allowed / "target.png").is_file() and (allowed / "face.png").is_file()


def test_openapi_documents_both_ways_to_post_a_job(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(None) as client:
        post = client.get("/openapi.json").json()["paths"]["/api/jobs"]["post"]
        content = post["requestBody"]["content"]
        assert content["multipart/form-data"]["schema"]["properties"]["target"]["items"]["format"] == "binary"
        assert "targets" in content["application/json"]["schema"]["properties"]
