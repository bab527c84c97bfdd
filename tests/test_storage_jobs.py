"""Remote inputs and cloud outputs in the job path: `swapcast swap -s URL -t s3://… -o s3://…`, `jobs add`,
`jobs show`, `POST /api/jobs` with source_url / target_url, and the runner's fetch → render → upload.

The first part needs no storage server: what is refused before a job is queued (URL inputs without
--allow-urls, file://, an http output, --keep-local for a local output), how a spec names its objects, and
how a job row keeps an uploaded output (never credentials). The second part runs real jobs against a
SeaweedFS S3 server the tests start (tests/storage_support.py) and an http server on 127.0.0.1.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli.main import main
from app.jobs.model import JobSpec, JobState, StoredOutput
from app.jobs.store import JobStore
from app.media.synth import make_clip


@pytest.fixture(autouse=True)
def models_present(swapcast_home: Path, kit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWAPCAST_MODELS", str(kit_dir))
    return kit_dir


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    cv2.imwrite(str(folder / "face.jpg"), np.full((16, 16, 3), 128, np.uint8))
    make_clip(folder / "clip.mp4", frames=2, width=32, height=32)
    return folder


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("swapcast: error: "), err
    return err


def queued() -> list[int]:
    with JobStore() as store:
        return [job.id for job in store.list()]


# ---- refused before anything is queued or fetched ------------------------------------------------


@pytest.mark.parametrize("command", ["swap", "jobs add"])
def test_a_url_input_is_refused_without_allow_urls_and_nothing_is_queued(
    command: str, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command.split(), "-s", str(media / "face.jpg"), "-t", "https://media.example.com/clip.mp4",
            "-o", str(tmp_path / "out.mp4")]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert "https://media.example.com/clip.mp4" in line and "--allow-urls" in line
    assert queued() == []


def test_with_allow_urls_a_url_target_is_queued_as_given(media: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    assert main(["jobs", "add", "--allow-urls", "-s", str(media / "face.jpg"), "-t",
                 "https://media.example.com/v/clip.mp4?sig=abc", "-o", str(tmp_path / "out/"), "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["spec"]["targets"] == ["https://media.example.com/v/clip.mp4?sig=abc"]
    assert job["spec"]["allow_urls"] is True
    assert job["output"] == str(tmp_path / "out")  # a folder: the output keeps the URL's file name
    with JobStore() as store:
        assert [str(p) for p in store.get(job["id"]).spec.destinations()] == [str(tmp_path / "out" / "clip.mp4")]


@pytest.mark.parametrize(("where", "uri", "expected"), [
    ("-s", "file:///etc/passwd", "file:// is not a source SwapCast takes"),
    ("-t", "ftp://example.com/clip.mp4", "ftp:// is not a source SwapCast takes"),
    ("-o", "https://example.com/upload/out.mp4", "an output cannot be an http(s) URL"),
    ("-s", "s3://bucket/faces/clip.mp4", "is a video; a job takes the face from a photo"),
])
def test_schemes_and_kinds_that_cannot_work_are_refused_with_one_line(
    where: str, uri: str, expected: str, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = {"-s": str(media / "face.jpg"), "-t": str(media / "clip.mp4"), "-o": str(tmp_path / "out.mp4")}
    options[where] = uri
    assert main(["jobs", "add", "--allow-urls", *[part for pair in options.items() for part in pair]]) == 2
    assert expected in one_error_line(capsys)
    assert queued() == []


def test_keep_local_is_refused_for_a_local_output(media: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "add", "--keep-local", "-s", str(media / "face.jpg"), "-t", str(media / "clip.mp4"),
                 "-o", str(tmp_path / "out.mp4")]) == 2
    assert "--keep-local only applies to an object-URI output" in one_error_line(capsys)


# ---- how a spec names its objects, how a row keeps them -----------------------------------------


def test_an_object_output_names_one_object_per_target_like_a_local_folder() -> None:
    one = JobSpec(sources=["/f.jpg"], targets=["s3://in/clips/a.mp4"], output="s3://out/results/swapped")
    assert one.object_destinations() == ["s3://out/results/swapped.mp4"]  # no extension: the target's
    assert one.destinations() == []  # nothing of it is written beside the user's files
    several = JobSpec(sources=["/f.jpg"], targets=["/v/a.mp4", "https://x.test/b.png?x=1"], output="r2://out/p/")
    assert several.object_destinations() == ["r2://out/p/a.mp4", "r2://out/p/b.png"]
    spec = JobSpec(sources=["gs://b/face.jpg"], targets=["/v/a.mp4"], output="s3://o/a.mp4", keep_local=True,
                   allow_urls=True)
    assert JobSpec.from_json(spec.to_json()) == spec
    assert spec.remote_inputs() == ["gs://b/face.jpg"]


def test_a_queue_from_before_uploads_opens_and_keeps_an_uploaded_outputs_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "data" / "jobs.sqlite3"
    with JobStore(db) as store:  # made at the current schema, then taken back to version 2
        store.add(JobSpec(sources=["/f.jpg"], targets=["/a.mp4"], output="/o/a.mp4"))
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE jobs DROP COLUMN objects")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    spec = JobSpec(sources=["/f.jpg"], targets=["/a.mp4"], output="s3://bucket/out/a.mp4")
    stored = StoredOutput(uri="s3://bucket/out/a.mp4", size=1234, sha256="ab" * 32,
                          presigned_url="https://s3.example.com/bucket/out/a.mp4?X-Amz-Signature=1",
                          presigned_expires_at=1_900_000_000.0)
    with JobStore(db) as store:
        assert store.get(1).objects == []
        job = store.add(spec)
        store.claim("w", 30, job_ids=[job.id])
        done = store.complete(job.id, stored.uri, objects=[stored])
        assert done is not None and done.state is JobState.COMPLETED
        assert store.get(job.id).objects == [stored]
        assert store.get(job.id).to_dict()["objects"][0]["presigned_url"] == stored.presigned_url
        store.retry(job.id, overwrite=True)
        assert store.get(job.id).objects == []  # a new attempt has uploaded nothing yet
        store.claim("w", 30, job_ids=[job.id])
        store.complete(job.id, stored.uri, objects=[stored])
    capsys.readouterr()
    monkeypatch.setenv("SWAPCAST_HOME", str(tmp_path))  # the CLI's queue is this one
    assert main(["jobs", "show", str(job.id)]) == 0
    text = capsys.readouterr().out
    assert "object     s3://bucket/out/a.mp4 (1234 bytes" in text
    assert "link       https://s3.example.com/bucket/out/a.mp4?X-Amz-Signature=1 (expires " in text


# ---- the API ---------------------------------------------------------------------------------------


def _server(tmp_path: Path, *, allow_urls: bool):  # noqa: ANN202 - a context manager of RunningServer
    from server_support import serve_context

    from app.jobs.events import EventBus
    from app.server.context import ServerContext, ServerSettings
    from app.server.tokens import TokenStore

    bus = EventBus()
    store = JobStore(tmp_path / "data" / "jobs.sqlite3", events=bus)
    settings = ServerSettings(uploads=tmp_path / "uploads", allow_urls=allow_urls)
    context = ServerContext(store=store, bus=bus, tokens=TokenStore(tmp_path / "settings" / "tokens.json"),
                            settings=settings)
    return serve_context(context)


def test_the_api_refuses_a_url_source_unless_the_server_allows_urls(tmp_path: Path, kit_dir: Path) -> None:
    from app.server.roles import Role

    body = {"source_url": "https://faces.example.com/face.png", "target_url": "https://media.example.com/clip.mp4"}
    with _server(tmp_path, allow_urls=False) as server, server.client(Role.OPERATOR) as client:
        response = client.post("/api/jobs", json=body)
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert "URL inputs are off" in message and "--allow-urls" in message and "\n" not in message
        assert client.get("/api/jobs").json()["data"]["jobs"] == []
        wrong = client.post("/api/jobs", json={"source_url": "/etc/passwd", "target_url": body["target_url"]})
        assert wrong.status_code == 400 and "is not a URL" in wrong.json()["error"]["message"]
    with _server(tmp_path / "open", allow_urls=True) as server, server.client(Role.OPERATOR) as client:
        response = client.post("/api/jobs", json=body)
        assert response.status_code == 201, response.text
        job = response.json()["data"]
        assert job["spec"]["sources"] == [body["source_url"]] and job["spec"]["targets"] == [body["target_url"]]
        assert job["outputs"][0]["name"] == "swapped.mp4"  # stored in the server's folder, as for uploads


# ---- http(s) inputs through a local server ----------------------------------------------------------


@pytest.fixture()
def media_site(kit_dir: Path):  # noqa: ANN201 - yields the server's port
    """A real http server on 127.0.0.1 serving the kit's clip at /v/target.mp4, with /share/clip → a redirect."""
    import http.server
    import threading
    from functools import partial

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/share/target.mp4":
                self.send_response(302)
                self.send_header("Location", "/v/target.mp4")
                self.end_headers()
                return
            if self.path == "/v/target.mp4":
                self.path = "/target.mp4"
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(kit_dir / "samples")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture()
def public_name_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """media.example.test (a public-looking name) resolves to the test server: the fetch helper's
    test-only policy hook, as the runner would build it for a job queued with --allow-urls."""
    from app.storage.fetch import FetchPolicy

    def policy(spec: JobSpec) -> FetchPolicy:
        return FetchPolicy(allow_urls=spec.allow_urls, resolver=lambda host, port: ["127.0.0.1"],
                           allow_loopback_for_tests=True)

    monkeypatch.setattr("app.offline.remote_job.fetch_policy", policy)


def test_swap_with_an_http_target_behind_a_redirect_renders_it_and_leaves_no_job_files(
    kit_dir: Path, tmp_path: Path, media_site: int, public_name_is_loopback: None, swapcast_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.media.probe import probe
    from app.paths import user_paths

    out = tmp_path / "out.mp4"
    url = f"http://media.example.test:{media_site}/share/target.mp4"
    assert main(["swap", "--allow-urls", "-s", str(kit_dir / "samples/source_a.png"), "-t", url,
                 "-o", str(out)]) == 0, capsys.readouterr().err
    original = probe(kit_dir / "samples/target.mp4")
    result = probe(out)
    assert (result.frame_count, round(result.fps), result.has_audio) == (
        original.frame_count, round(original.fps), original.has_audio)
    with JobStore() as store:
        [job] = store.list()
        assert job.state is JobState.COMPLETED and job.spec.targets == [url] and job.output == str(out)
        assert not store.job_folder(job.id).exists()  # the fetched clip went with the completed job
    assert not (user_paths().data / "job-files" / "1").exists()
