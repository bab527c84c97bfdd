"""The lip-sync models in the catalog and their download policy: no sha256 pinned (no two independent
sources agree), so the first download must match the publisher's CRC32 sidecar, its sha256 is then
recorded, later loads are checked against it, and `swapcast models list` says so."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from app.cli.main import main
from engines.errors import DownloadError, ModelError
from engines.models.catalog import load_catalog
from engines.models.store import default_catalog_path
from test_models_download import PAYLOAD, FileServer, entry, make_store, server  # noqa: F401 — the fixture

PAYLOAD_CRC = f"{zlib.crc32(PAYLOAD):08x}"
SIDECAR = {"algorithm": "crc32", "url_suffix": ".hash"}


def lip_entry(urls: list[str]) -> dict:
    return entry(urls, sha256=None, id="wav2lip_demo", role="lip_syncer", file="wav2lip_demo.onnx",
                 sha256_note="the publisher gives only a CRC32 sidecar", publisher_hash=SIDECAR)


def serve(server: FileServer, crc: str | None = PAYLOAD_CRC) -> None:
    server.files["wav2lip_demo.onnx"] = PAYLOAD
    if crc is not None:
        server.files["wav2lip_demo.hash"] = crc.encode()


def test_shipped_catalog_lists_facefusions_wav2lip_files_unpinned_with_their_sidecars() -> None:
    specs = {spec.id: spec for spec in load_catalog(default_catalog_path())}
    lips = [spec for spec in specs.values() if spec.role == "lip_syncer"]
    assert {spec.id for spec in lips} == {"wav2lip_96", "wav2lip_gan_96"}
    assert [spec.id for spec in lips if spec.default] == ["wav2lip_gan_96"]
    for spec in lips:
        assert spec.sha256 is None and not spec.pinned and "CRC32" in (spec.sha256_note or "")
        release = "https://github.com/facefusion/facefusion-assets/releases/download/models-3.0.0"
        assert spec.urls[0] == f"{release}/{spec.file}"
        assert spec.publisher_hash is not None and spec.publisher_hash.algorithm == "crc32"
        assert spec.publisher_hash.sidecar_url(spec.urls[0]).endswith(f"models-3.0.0/{spec.id}.hash")
        assert "non-commercial" in spec.license.lower()
        assert "[1,1,80,16]" in spec.contract["inputs"] and "[1,6,96,96]" in spec.contract["inputs"]


def test_first_download_matches_the_sidecar_then_records_the_sha256(server: FileServer, tmp_path: Path) -> None:
    serve(server)
    warnings: list[str] = []
    store = make_store(tmp_path, lip_entry([server.url("ok", "wav2lip_demo.onnx")]), warnings=warnings)
    path = store.download("wav2lip_demo")
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert path.read_bytes() == PAYLOAD
    assert ("/ok/wav2lip_demo.hash", None) in server.requests  # the publisher's sidecar, same host
    assert any(sha in w and f"crc32 {PAYLOAD_CRC}" in w for w in warnings)
    assert store.hash_policy("wav2lip_demo") == (
        "sha256 recorded at first download (not pinned), after matching the publisher's crc32 sidecar: " + sha)
    assert store.open_verified("wav2lip_demo").sha256 == sha
    # A later change to the file is caught against the recorded hash, not trusted again.
    path.write_bytes(PAYLOAD[::-1])
    with pytest.raises(ModelError, match="recorded sha256"):
        store.open_verified("wav2lip_demo")


def test_a_file_that_fails_the_sidecar_is_never_kept_and_the_mirror_is_tried(server: FileServer,
                                                                              tmp_path: Path) -> None:
    serve(server)
    server.files["bad.onnx"] = PAYLOAD[:-1] + b"x"  # corrupted on the first host
    server.files["bad.hash"] = PAYLOAD_CRC.encode()
    bad, good = server.url("ok", "bad.onnx"), server.url("ok", "wav2lip_demo.onnx")
    store = make_store(tmp_path, lip_entry([bad, good]))
    path = store.download("wav2lip_demo")
    assert path.read_bytes() == PAYLOAD
    (tmp_path / "alone").mkdir()
    alone = make_store(tmp_path / "alone", lip_entry([bad]))
    with pytest.raises(DownloadError, match=f"crc32 mismatch with the publisher's checksum: expected {PAYLOAD_CRC}"):
        alone.download("wav2lip_demo")
    assert not alone.path("wav2lip_demo").exists()
    assert not alone.path("wav2lip_demo").with_name("wav2lip_demo.onnx.part").exists()


def test_a_resumed_first_download_is_checked_over_all_its_bytes(server: FileServer, tmp_path: Path) -> None:
    """The CRC32 is taken while streaming, so the bytes of an earlier run's .part must count too: a
    sound old half passes the sidecar; a corrupt one fails it, and the URL gets one clean try."""
    serve(server)
    half = len(PAYLOAD) // 2
    store = make_store(tmp_path, lip_entry([server.url("ok", "wav2lip_demo.onnx")]))
    part = store.path("wav2lip_demo").with_name("wav2lip_demo.onnx.part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(PAYLOAD[:half])
    assert store.download("wav2lip_demo").read_bytes() == PAYLOAD
    # Resumed, and the old half counted toward the CRC32: no second, fresh transfer was needed.
    assert [rng for path, rng in server.requests if path == "/ok/wav2lip_demo.onnx"] == [f"bytes={half}-"]

    (tmp_path / "bad").mkdir()
    bad = make_store(tmp_path / "bad", lip_entry([server.url("ok", "wav2lip_demo.onnx")]))
    bad_part = bad.path("wav2lip_demo").with_name("wav2lip_demo.onnx.part")
    bad_part.parent.mkdir(parents=True, exist_ok=True)
    bad_part.write_bytes(b"\0" * half)  # an old .part that is not the publisher's bytes
    server.requests.clear()
    assert bad.download("wav2lip_demo").read_bytes() == PAYLOAD
    onnx = [rng for path, rng in server.requests if path == "/ok/wav2lip_demo.onnx"]
    assert onnx == [f"bytes={half}-", None]  # the resume failed the sidecar; then one whole fresh try
    assert not bad_part.exists()


def test_no_sidecar_means_no_unverifiable_first_download(server: FileServer, tmp_path: Path) -> None:
    serve(server, crc=None)
    store = make_store(tmp_path, lip_entry([server.url("ok", "wav2lip_demo.onnx")]))
    with pytest.raises(DownloadError, match="the publisher's checksum wav2lip_demo.hash: HTTP 404"):
        store.download("wav2lip_demo")
    assert not store.path("wav2lip_demo").exists()
    assert not any(path.endswith(".onnx") for path, _ in server.requests)  # checksum first: no wasted transfer


def test_models_list_says_which_hashes_are_recorded_not_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for model_id in ("wav2lip_96", "wav2lip_gan_96"):
        assert (f"{model_id}: sha256 recorded at first download (not pinned), after matching the publisher's "
                "crc32 sidecar; nothing recorded yet") in out
    assert "inswapper_128: sha256" not in out  # pinned entries need no note
