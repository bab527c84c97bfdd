"""`GET/POST /api/sources` through a real server: the identities the studio's gallery shows."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app.server.roles import Role
from app.sources.library import Gallery, SavedIdentity, SourcesLibrary
from server_support import running_server


def photo(path: Path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "image/png")


@pytest.fixture()
def samples(kit_dir: Path) -> Path:
    return kit_dir / "samples"


def test_added_sources_are_listed_and_a_duplicate_photo_is_one_photo(tmp_path: Path, samples: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as operator, \
            server.client(Role.VIEWER) as viewer:
        assert viewer.get("/api/sources").json() == {"ok": True, "data": {"sources": [], "active": None}}

        added = operator.post("/api/sources", data={"name": "Alice"},
                              files=[("photo", photo(samples / "source_a.png"))])
        assert added.status_code == 201, added.text
        assert added.json()["data"]["added"] == 1

        # The same picture again, under another file name and for another person: one photo.
        again = operator.post("/api/sources", data={"name": "Someone"},
                              files=[("photo", ("renamed.png", (samples / "source_a.png").read_bytes(), "image/png"))])
        assert again.status_code == 200, again.text
        assert again.json()["data"] == {"source": None, "added": 0, "duplicates": 1}

        two = operator.post("/api/sources", data={"name": "Bob"},
                            files=[("photo", photo(samples / "source_b.png")), ("photo", photo(samples / "source_a.png"))])
        assert two.status_code == 201 and two.json()["data"]["added"] == 1 and two.json()["data"]["duplicates"] == 1

        listed = viewer.get("/api/sources").json()["data"]["sources"]
        assert [(s["name"], len(s["photos"]), s["usable_photos"]) for s in listed] == [("Alice", 1, 1), ("Bob", 1, 1)]
        # Stored under the server's own folder with generated names, not the client's.
        stored = sorted((tmp_path / "uploads" / "sources").iterdir())
        assert len(stored) == 2 and not any(p.name.startswith("source_") for p in stored)
        assert {s["photos"][0] for s in listed} == {p.name for p in stored}

        # The studio's gallery reads the same file: the faces added over HTTP are there.
        gallery = server.context.sources.load()
        assert [(i.name, [p.parent for p in i.photos]) for i in gallery.identities] == [
            ("Alice", [tmp_path / "uploads" / "sources"]), ("Bob", [tmp_path / "uploads" / "sources"])]
        assert stat.S_IMODE(server.context.sources.path.stat().st_mode) == 0o600


def test_a_text_file_sent_as_a_photo_is_refused_and_nothing_is_added(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as operator:
        for content_type in ("image/png", "text/plain"):
            refused = operator.post("/api/sources", data={"name": "Mallory"},
                                    files=[("photo", ("face.png", b"this is not a picture\n" * 10, content_type))])
            assert refused.status_code == 415, refused.text
            error = refused.json()["error"]
            assert error["code"] == "unsupported_media" and "face.png" in error["message"]
            assert "PNG" in error["message"] and "\n" not in error["message"]
        assert operator.get("/api/sources").json()["data"]["sources"] == []
        assert not any((tmp_path / "uploads" / "sources").glob("*"))


def test_an_oversized_upload_is_refused_before_it_is_stored(tmp_path: Path, samples: Path) -> None:
    with running_server(tmp_path, max_upload_bytes=1000) as server, server.client(Role.OPERATOR) as operator:
        refused = operator.post("/api/sources", data={"name": "Alice"}, files=[("photo", photo(samples / "source_a.png"))])
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "too_large"
        assert operator.get("/api/sources").json()["data"]["sources"] == []


def test_adding_sources_needs_an_operator_and_a_name(tmp_path: Path, samples: Path) -> None:
    with running_server(tmp_path) as server, server.client(Role.VIEWER) as viewer, \
            server.client(Role.OPERATOR) as operator, server.client(None) as anonymous:
        assert anonymous.get("/api/sources").status_code == 401
        denied = viewer.post("/api/sources", data={"name": "Alice"}, files=[("photo", photo(samples / "source_a.png"))])
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        nameless = operator.post("/api/sources", files=[("photo", photo(samples / "source_a.png"))])
        assert nameless.status_code == 422 and "name" in nameless.json()["error"]["message"]
        photoless = operator.post("/api/sources", data={"name": "Alice"}, files=[("other", photo(samples / "source_a.png"))])
        assert photoless.status_code == 422 and "photo" in photoless.json()["error"]["message"]
        assert operator.get("/api/sources").json()["data"]["sources"] == []


def test_the_library_file_is_written_atomically_and_a_broken_one_reads_as_empty(tmp_path: Path) -> None:
    library = SourcesLibrary(tmp_path / "settings" / "sources.json")
    assert library.load(legacy=lambda: Gallery((SavedIdentity("old", (Path("a.png"),)),))).identities[0].name == "old"
    library.save(Gallery((SavedIdentity("Alice", (Path("/p/a.png"),)),), active=0))
    assert json.loads(library.path.read_text())["identities"] == [{"name": "Alice", "photos": ["/p/a.png"]}]
    assert not [p for p in library.path.parent.iterdir() if p.name.startswith(".sources.")]
    library.path.write_text("{not json")
    assert library.load() == Gallery()


def test_the_studio_and_the_server_show_the_same_gallery(tmp_path: Path, samples: Path) -> None:
    from app.gui.settings import StudioSettings

    studio = StudioSettings()
    # A gallery the studio kept in its INI before the shared file existed is carried over once.
    studio.qsettings.setValue("sources/identities", json.dumps([{"name": "Old", "photos": [str(samples / "source_a.png")]}]))
    saved, active = studio.identities()
    assert [(i.name, i.photos) for i in saved] == [("Old", (samples / "source_a.png",))] and active == 0
    studio.set_identities(saved, 0)

    with running_server(tmp_path) as server, server.client(Role.OPERATOR) as operator:
        assert [s["name"] for s in operator.get("/api/sources").json()["data"]["sources"]] == ["Old"]
        added = operator.post("/api/sources", data={"name": "New"}, files=[("photo", photo(samples / "source_b.png"))])
        assert added.status_code == 201
        more = operator.post("/api/sources", data={"name": "Old"}, files=[("photo", photo(samples / "target.png"))])
        assert more.status_code == 201
    # The studio, still holding the gallery it read at start, saves on close: what the API added stays.
    studio.set_identities(saved, 0)
    again = StudioSettings().identities()[0]
    assert [(i.name, len(i.photos)) for i in again] == [("Old", 2), ("New", 1)]
    # What the studio itself removes stays removed.
    later = StudioSettings()
    later.identities()
    later.set_identities([again[1]], 0)
    assert [i.name for i in StudioSettings().identities()[0]] == ["New"]
