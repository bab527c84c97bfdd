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
from collections.abc import Iterator
from dataclasses import dataclass, field
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


def test_with_allow_urls_a_url_target_is_queued_as_given(media: Path, tmp_path: Path, media_site: MediaSite,
                                                          public_name_is_loopback: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    url = media_site.url("/v/target.mp4?sig=abc")
    assert main(["jobs", "add", "--allow-urls", "-s", str(media / "face.jpg"), "-t", url,
                 "-o", str(tmp_path / "out/"), "--json"]) == 0, capsys.readouterr().err
    job = json.loads(capsys.readouterr().out)
    assert job["spec"]["targets"] == [url]
    assert job["spec"]["allow_urls"] is True
    assert job["output"] == str(tmp_path / "out")  # a folder: the output keeps the URL's file name
    with JobStore() as store:
        assert [str(p) for p in store.get(job["id"]).spec.destinations()] == [str(tmp_path / "out" / "target.mp4")]
    assert media_site.seen == ["/v/target.mp4"]  # its start was checked once; the job fetches it when it runs


@pytest.mark.parametrize(("path", "expected"), [
    ("/page/clip.mp4", "is served as text/html, not a picture or a video"),
    ("/fake/clip.mp4", "is not a picture or a video SwapCast can read (it starts with text '<!doctype html><'"),
    ("/v/missing.mp4", "answered 404"),
])
def test_a_url_that_is_not_a_picture_or_a_video_is_refused_before_it_is_queued(
    path: str, expected: str, media: Path, tmp_path: Path, media_site: MediaSite, public_name_is_loopback: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["jobs", "add", "--allow-urls", "-s", str(media / "face.jpg"), "-t", media_site.url(path),
                 "-o", str(tmp_path / "out.mp4")]) == 2
    line = one_error_line(capsys)
    assert expected in line and media_site.url(path) in line
    assert queued() == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_url_on_this_machine_is_refused_before_it_is_queued_or_connected_to(
    host: str, media: Path, tmp_path: Path, media_site: MediaSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the real policy and the system's resolver (no test hook): loopback is refused by address."""
    assert main(["swap", "--allow-urls", "-s", str(media / "face.jpg"), "-t", media_site.url("/v/target.mp4", host),
                 "-o", str(tmp_path / "out.mp4")]) == 2
    assert "is this machine (loopback), not a public address" in one_error_line(capsys)
    assert queued() == [] and media_site.seen == []


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
    conn.execute("ALTER TABLE jobs DROP COLUMN segments_done")  # added by schema 4
    conn.execute("ALTER TABLE jobs DROP COLUMN segments_total")
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


def test_the_api_refuses_a_url_source_unless_the_server_allows_urls(tmp_path: Path, kit_dir: Path,
                                                                    media_site: MediaSite,
                                                                    public_name_is_loopback: None) -> None:
    from app.server.roles import Role

    body = {"source_url": media_site.url("/source_a.png"), "target_url": media_site.url("/v/target.mp4")}
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
        page = client.post("/api/jobs", json={**body, "target_url": media_site.url("/page/clip.mp4")})
        assert page.status_code == 400 and "is served as text/html" in page.json()["error"]["message"]
        assert [j["id"] for j in client.get("/api/jobs").json()["data"]["jobs"]] == [job["id"]]


# ---- http(s) inputs through a local server ----------------------------------------------------------


@dataclass
class MediaSite:
    port: int
    seen: list[str] = field(default_factory=list)  # the paths asked for, in order

    def url(self, path: str, host: str = "media.example.test") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture()
def media_site(kit_dir: Path) -> Iterator[MediaSite]:
    """A real http server on 127.0.0.1 serving the kit's samples (/v/target.mp4 is target.mp4), with
    /share/target.mp4 → a redirect to it, /page/clip.mp4 a web page and /fake/clip.mp4 text served as video."""
    import http.server
    import threading
    from functools import partial

    site = MediaSite(port=0)
    page = b"<!doctype html><html><body>a page about a clip</body></html>\n"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?")[0]
            site.seen.append(path)
            if path == "/share/target.mp4":
                self.send_response(302)
                self.send_header("Location", "/v/target.mp4")
                self.end_headers()
                return
            if path in ("/page/clip.mp4", "/fake/clip.mp4"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if path.startswith("/page") else "video/mp4")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            if path == "/v/target.mp4":
                self.path = "/target.mp4"
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(kit_dir / "samples")))
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture()
def public_name_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """media.example.test (a public-looking name) resolves to the test server: the fetch helper's
    test-only policy hook, as admission (when the job is queued) and the runner (when it runs) build it
    for a job queued with --allow-urls."""
    from app.storage.fetch_policy import FetchPolicy

    def policy(spec: JobSpec) -> FetchPolicy:
        return FetchPolicy(allow_urls=spec.allow_urls, resolver=lambda host, port: ["127.0.0.1"],
                           allow_loopback_for_tests=True)

    monkeypatch.setattr("app.jobs.remote.fetch_policy", policy)


def test_swap_with_an_http_target_behind_a_redirect_renders_it_and_leaves_no_job_files(
    kit_dir: Path, tmp_path: Path, media_site: MediaSite, public_name_is_loopback: None, swapcast_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.media.probe import probe
    from app.paths import user_paths

    out = tmp_path / "out.mp4"
    url = media_site.url("/share/target.mp4")
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


# ---- s3:// in and out, against a real SeaweedFS ------------------------------------------------------

try:
    import storage_support
    from storage_support import s3_env, seaweedfs  # noqa: F401 - fixtures
except ImportError:  # the storage helper's fixture has not landed in this build
    storage_support = None

    @pytest.fixture()
    def s3_env() -> None:
        pytest.skip("the SeaweedFS fixture (tests/storage_support.py) is not in this build")


def _put_inputs(server, kit_dir: Path, prefix: str) -> tuple[str, str]:  # noqa: ANN001 - storage_support.SeaweedServer
    client = server.client()
    for name in ("source_a.png", "target.mp4"):
        client.put_object(Bucket=server.bucket, Key=f"{prefix}/{name}", Body=(kit_dir / "samples" / name).read_bytes())
    return f"s3://{server.bucket}/{prefix}/source_a.png", f"s3://{server.bucket}/{prefix}/target.mp4"


def test_a_video_job_from_s3_to_s3_keeps_frames_fps_audio_and_the_ai_tag(
    s3_env, kit_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    import hashlib

    import av

    from app.media.probe import probe
    from app.paths import user_paths
    from engines.metadata import AI_TAG

    source, target = _put_inputs(s3_env, kit_dir, "jobs-e2e")
    output = f"s3://{s3_env.bucket}/jobs-e2e/out/result.mp4"
    assert main(["swap", "-s", source, "-t", target, "-o", output]) == 0, capsys.readouterr().err
    assert f"done: {output}" in capsys.readouterr().out
    body = s3_env.read("jobs-e2e/out/result.mp4")
    local = tmp_path / "read-back.mp4"
    local.write_bytes(body)
    original, result = probe(kit_dir / "samples/target.mp4"), probe(local)
    assert (result.frame_count, round(result.fps), result.width, result.height, result.has_audio) == (
        original.frame_count, round(original.fps), original.width, original.height, True)
    with av.open(str(local)) as container:
        assert AI_TAG in container.metadata.get("comment", "")
    with JobStore() as store:
        [job] = store.list()
        assert job.state is JobState.COMPLETED and job.output == output
        [stored] = job.objects
        assert (stored.uri, stored.size, stored.sha256) == (output, len(body), hashlib.sha256(body).hexdigest())
        assert not store.job_folder(job.id).exists()  # fetched inputs and the local render are gone
    assert main(["jobs", "show", str(job.id)]) == 0
    shown = capsys.readouterr().out
    assert f"object     {output}" in shown
    # Credentials come from the environment when the job runs: never in the queue, nor shown.
    assert storage_support.SECRET_KEY.encode() not in (user_paths().jobs_db).read_bytes()
    assert storage_support.SECRET_KEY not in shown and storage_support.ACCESS_KEY not in shown


def test_keep_local_keeps_the_render_in_the_jobs_folder(s3_env, kit_dir: Path,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    source, _ = _put_inputs(s3_env, kit_dir, "jobs-keep")
    output = f"s3://{s3_env.bucket}/jobs-keep/out/"
    assert main(["swap", "--keep-local", "-s", source, "-t", str(kit_dir / "samples/target.png"),
                 "-o", output]) == 0, capsys.readouterr().err
    assert s3_env.keys(prefix="jobs-keep/out/") == ["jobs-keep/out/target.png"]
    with JobStore() as store:
        [job] = store.list()
        kept = store.job_folder(job.id) / "output" / "target.png"
        assert kept.read_bytes() == s3_env.read("jobs-keep/out/target.png")
        assert not (store.job_folder(job.id) / "inputs").exists()
        store.remove(job.id)
        assert not store.job_folder(job.id).exists()  # removing the job takes its folder


def test_a_cancel_mid_upload_leaves_no_object_under_the_final_key(
    s3_env, kit_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    import threading

    import app.storage.upload as upload
    from app.jobs.errors import JobCancelled
    from app.jobs.model import Job
    from app.offline.runner import SwapRunner

    source, target = _put_inputs(s3_env, kit_dir, "jobs-cancel")
    output = f"s3://{s3_env.bucket}/jobs-cancel/out/result.mp4"
    stop = threading.Event()
    real_upload = upload.upload_object

    def upload_then_cancel(local: Path, uri: str, *, progress=None, cancelled=None):  # noqa: ANN001, ANN202
        def relay(done: int, total: int | None) -> None:
            stop.set()  # the user presses cancel as soon as bytes start going up
            if progress is not None:
                progress(done, total)
        return real_upload(local, uri, progress=relay, cancelled=cancelled)

    monkeypatch.setattr(upload, "upload_object", upload_then_cancel)
    # The tiny render goes up in several parts, as a real video's would (a single PUT is atomic anyway).
    monkeypatch.setattr(upload, "SINGLE_PUT_MAX", 0)
    monkeypatch.setattr(upload, "PART_SIZE", 16 * 1024)
    monkeypatch.setattr(upload, "CONCURRENCY", 1)

    class Reporter:
        def __init__(self, folder: Path) -> None:
            self.job_folder = folder

        def progress(self, done: int, total: int) -> None:
            if stop.is_set():
                raise JobCancelled(7)

        def warn(self, message: str) -> None:
            pass

        @property
        def stopping(self) -> bool:
            return stop.is_set()

    folder = Path(kit_dir.parent) / "cancel-job-7"
    job = Job(id=7, spec=JobSpec(sources=[source], targets=[target], output=output), state=JobState.PROCESSING)
    with pytest.raises(JobCancelled):
        SwapRunner().run(job, Reporter(folder))
    assert stop.is_set()
    assert s3_env.keys(prefix="jobs-cancel/out/") == []
    assert not (folder / "output").exists()  # no local render left either


@pytest.mark.parametrize("command", ["swap", "jobs add"])
def test_an_object_input_that_is_missing_or_not_media_is_refused_before_it_is_queued(
    command: str, s3_env, kit_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    """As for http(s) inputs: a render farm's client hears at once that the key is wrong, not after the
    job waited its turn in the queue."""
    source, target = _put_inputs(s3_env, kit_dir, "jobs-checked")
    s3_env.client().put_object(Bucket=s3_env.bucket, Key="jobs-checked/notes.mp4", Body=b"just some text, not a video")
    output = str(tmp_path / "out.mp4")
    cases = [
        (f"s3://{s3_env.bucket}/jobs-checked/missing.mp4", "no such object"),
        (f"s3://{s3_env.bucket}/jobs-checked/notes.mp4", "is not a picture or a video SwapCast can read (it starts with text"),
    ]
    for bad_target, said in cases:
        code = main([*command.split(), "-s", source, "-t", bad_target, "-o", output])
        err = one_error_line(capsys)
        assert code == 2 and said in err and bad_target in err, err
        assert storage_support.SECRET_KEY not in err
    assert queued() == [] and not Path(output).exists()
    assert main([*command.split(), "-s", source, "-t", target, "-o", output]) == 0  # the real key is taken
    assert len(queued()) == 1


def test_a_wrong_bucket_fails_the_job_once_with_one_line_and_no_object(
    s3_env, kit_dir: Path, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    source, target = _put_inputs(s3_env, kit_dir, "jobs-wrong")
    output = "s3://swapcast-no-such-bucket/out/result.mp4"
    code = main(["swap", "-s", source, "-t", target, "-o", output])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "bucket 'swapcast-no-such-bucket' does not exist" in err and "fix the bucket name" in err
    assert storage_support.SECRET_KEY not in err
    with JobStore() as store:
        [job] = store.list()
        assert (job.state, job.attempts, job.objects) == (JobState.FAILED, 1, [])  # failed once, not retried
        assert not store.job_folder(job.id).joinpath("output").exists()  # no local render left behind
    assert "swapcast-no-such-bucket" not in [b["Name"] for b in s3_env.client().list_buckets()["Buckets"]]


def test_credentials_that_may_read_but_not_write_fail_the_job_once_with_one_line_and_no_object(
    s3_env, kit_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    source, target = _put_inputs(s3_env, kit_dir, "jobs-denied")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", storage_support.READONLY_KEY)  # reads the inputs, may not write
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", storage_support.READONLY_SECRET)
    code = main(["swap", "-s", source, "-t", target, "-o", f"s3://{s3_env.bucket}/jobs-denied/out/result.mp4"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "access denied" in err and "AWS_ACCESS_KEY_ID" in err and storage_support.READONLY_SECRET not in err
    with JobStore() as store:
        [job] = store.list()
        assert (job.state, job.attempts, job.objects) == (JobState.FAILED, 1, [])  # rendered, refused, not retried
        assert not store.job_folder(job.id).joinpath("output").exists()
    assert s3_env.keys(prefix="jobs-denied/out/") == []
    assert not s3_env.client().list_multipart_uploads(Bucket=s3_env.bucket, Prefix="jobs-denied/").get("Uploads")


def test_the_api_takes_object_urls_and_returns_the_uploaded_objects_uri(
    s3_env, kit_dir: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    import httpx

    from app.jobs.executor import LocalExecutor
    from app.offline import load_runner_factory
    from app.server.roles import Role

    import time

    from app.paths import user_paths

    source, target = _put_inputs(s3_env, kit_dir, "jobs-api")
    # A storage profile that asks for a presigned link valid 10 minutes.
    user_paths().settings.mkdir(parents=True, exist_ok=True)
    (user_paths().settings / "storage.json").write_text(json.dumps({"profiles": {"renders": {
        "kind": "s3", "bucket": s3_env.bucket, "prefix": "jobs-api/", "endpoint": s3_env.endpoint,
        "region": "us-east-1", "presign_expiry_s": 600}}}), encoding="utf-8")
    output = "renders:out/result.mp4"
    with _server(tmp_path, allow_urls=False) as server, server.client(Role.OPERATOR) as client:
        response = client.post("/api/jobs", json={"source_url": source, "target_url": target, "output": output})
        assert response.status_code == 201, response.text
        job_id = response.json()["data"]["id"]
        LocalExecutor(server.context.store, load_runner_factory(), workers=1, poll_s=0.05).run(job_ids=[job_id])
        answer = client.get(f"/api/jobs/{job_id}")
        done = answer.json()["data"]
        assert done["state"] == "COMPLETED", done["error"]
        assert done["output"] == output and done["objects"][0]["uri"] == output
        assert done["outputs"][0]["uri"] == output
        body = s3_env.read("jobs-api/out/result.mp4")
        assert done["objects"][0]["size"] == len(body)
        link, expires = done["objects"][0]["presigned_url"], done["objects"][0]["presigned_expires_at"]
        assert link and "X-Amz-Expires=600" in link and 0 < expires - time.time() <= 600
        assert (done["outputs"][0]["url"], done["outputs"][0]["url_expires_at"]) == (link, expires)
        assert httpx.get(link, timeout=30).content == body  # the link gives the object's bytes
        assert storage_support.SECRET_KEY not in answer.text


def test_the_storage_benchmark_runs_against_the_servers_in_the_aws_environment(
    s3_env, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    assert main(["benchmark", "--storage", "--quick", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["kind"] == "storage" and result["server"] == "the AWS_ENDPOINT_URL server"
    assert result["size_mb"] == 20 and result["upload_mb_s"] > 0 and result["download_mb_s"] > 0
    assert result["local_job_s"] > 0 and result["s3_job_s"] > 0 and "added_s" in result
    assert s3_env.keys("swapcast-bench", prefix="bench/out/") == ["bench/out/s3.mp4"]


def test_a_remote_jobs_progress_gives_the_fetch_and_the_upload_their_shares(
    s3_env, kit_dir: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    from app.jobs.model import Job
    from app.offline.runner import SwapRunner

    source, target = _put_inputs(s3_env, kit_dir, "jobs-shares")
    output = f"s3://{s3_env.bucket}/jobs-shares/out/result.mp4"

    class Recorder:
        def __init__(self) -> None:
            self.job_folder = tmp_path / "job-9"
            self.fractions: list[float] = []

        def progress(self, done: int, total: int) -> None:
            self.fractions.append(done / total if total else 0.0)

        def warn(self, message: str) -> None:
            pass

        stopping = False

    report = Recorder()
    job = Job(id=9, spec=JobSpec(sources=[source], targets=[target], output=output), state=JobState.PROCESSING)
    result = SwapRunner().run(job, report)
    assert result.output == output and [o.uri for o in result.objects] == [output]
    seen = report.fractions
    assert all(later >= earlier - 0.01 for earlier, later in zip(seen, seen[1:])), seen  # never goes back
    assert seen[-1] == pytest.approx(1.0)
    assert any(abs(f - 0.10) < 0.015 for f in seen)  # inputs fetched: the first tenth
    assert any(abs(f - 0.90) < 0.015 for f in seen)  # rendered, not uploaded yet: the last tenth to go
    assert not report.job_folder.exists()  # inputs and render removed after the confirmed upload


def test_a_retried_job_resumes_its_interrupted_download(kit_dir: Path, tmp_path: Path,
                                                        public_name_is_loopback: None) -> None:
    """The fetched part stays in the job's folder when an attempt fails; the retry asks for the rest."""
    from test_storage_fetch import LocalServer, Route

    from app.jobs.model import Job
    from app.media.probe import probe
    from app.offline.runner import SwapRunner
    from engines.errors import TransientError

    clip = (kit_dir / "samples/target.mp4").read_bytes()
    half = len(clip) // 2
    site = LocalServer()
    site.routes["/v/target.mp4"] = Route(clip, "video/mp4", drop_after=half, etag='"v1"')
    site.thread.start()

    class Report:
        job_folder = tmp_path / "job-11"
        stopping = False

        def progress(self, done: int, total: int) -> None:
            pass

        def warn(self, message: str) -> None:
            pass

    out = tmp_path / "out.mp4"
    spec = JobSpec(sources=[str(kit_dir / "samples/source_a.png")], targets=[site.url("/v/target.mp4")],
                   output=str(out), allow_urls=True)
    job = Job(id=11, spec=spec, state=JobState.PROCESSING)
    try:
        with pytest.raises(TransientError, match="resumes where it stopped"):
            SwapRunner().run(job, Report())
        [part] = (Report.job_folder / "inputs").glob("*.part")
        assert part.read_bytes() == clip[:half] and not out.exists()
        SwapRunner().run(job, Report())  # the queue's retry
    finally:
        site.httpd.shutdown()
        site.httpd.server_close()
        site.thread.join(timeout=10)
    assert [s.headers.get("range") for s in site.seen] == [None, f"bytes={half}-"]
    assert probe(out).frame_count == probe(kit_dir / "samples/target.mp4").frame_count
    assert not Report.job_folder.exists()  # the fetched input went with the completed job
