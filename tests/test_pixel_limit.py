"""A small file may declare a huge picture: a 109 KB PNG of 30000x30000 pixels decodes to 900 MB (2.7 GB
once in colour). Its size is read from the header and checked against the limit (SWAPCAST_MAX_PIXELS,
default 100 megapixels) before anything is decoded, for photos, images probed as media and video
streams; the refusal is one line naming the file, its size, the limit and how to raise it.

The checks that would decode the bomb on a regression run in a child process whose address space is
capped, and report the child's own peak memory (Linux: /proc/self/status)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

capped = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="caps and reads memory the Linux way")

from app.media import probe
from app.media.reader import VideoReader
from app.media.synth import make_clip
from engines.errors import InputError
from engines.imaging import read_image
from engines.pixel_limit import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV

ROOT = Path(__file__).resolve().parent.parent
ADDRESS_SPACE_MB = 3072  # a normal CLI run peaks near 1.5 GB of address space; the bomb needs far more
DECODED_MB = 30000 * 30000 // (1 << 20)  # 858: the bomb's pixels alone, as 8-bit grey


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, rows: bytes | None = None) -> bytes:
    """A valid 1-bit greyscale PNG of black pixels (rows streamed through zlib: no big buffer)."""
    squeeze = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    data = rows if rows is not None else b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png_bytes(30000, 30000))
    assert path.stat().st_size < 200_000
    return path


def run_capped(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, int]:
    """(exit code, stderr without the memory line, peak RSS in MiB) of `code` in a capped child."""
    wrapper = textwrap.dedent(f"""
        import resource, sys
        cap = {ADDRESS_SPACE_MB} << 20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        def report():  # VmHWM: this program's peak RSS (ru_maxrss would carry the forking parent's over)
            with open("/proc/self/status") as status:
                kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
            print("PEAK_MB", kib // 1024, file=sys.stderr)
        import atexit
        atexit.register(report)
    """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    lines = done.stderr.splitlines()
    peak = [int(line.split()[1]) for line in lines if line.startswith("PEAK_MB ")]
    assert peak, done.stderr
    return done.returncode, "\n".join(line for line in lines if not line.startswith("PEAK_MB ")), peak[0]


def assert_refusal(text: str, path: Path, size: str = "30000x30000") -> None:
    assert str(path) in text and size in text
    assert "limit of 100 megapixels" in text and f"{MAX_PIXELS_ENV}=" in text


@capped
def test_a_photo_declaring_30000x30000_is_refused_from_its_header(bomb) -> None:
    code, err, peak = run_capped("""
        from pathlib import Path
        from engines.errors import InputError
        from engines.imaging import read_image
        try:
            read_image(Path(sys.argv[1]))
        except InputError as error:
            print("REFUSED", error, file=sys.stderr)
            sys.exit(3)
    """, str(bomb))
    [refusal] = [line for line in err.splitlines() if line.startswith("REFUSED")]
    assert code == 3, err
    assert_refusal(refusal, bomb)
    assert peak < DECODED_MB / 2


@capped
def test_probing_the_png_as_media_is_refused_from_its_header(bomb) -> None:
    code, err, peak = run_capped("""
        from app.media import probe
        from engines.errors import InputError
        try:
            probe(sys.argv[1])
        except InputError as error:
            print("REFUSED", error, file=sys.stderr)
            sys.exit(3)
    """, str(bomb))
    assert code == 3, err
    assert_refusal(err, bomb)
    assert peak < DECODED_MB / 2


@capped
@pytest.mark.parametrize("role", ["target", "source"])
def test_swap_with_the_bomb_exits_non_zero_with_one_line(role, bomb, kit_dir, tmp_path) -> None:
    photos = {"source": str(kit_dir / "samples/source_a.png"), "target": str(kit_dir / "samples/target.png")}
    photos[role] = str(bomb)
    code, err, peak = run_capped("""
        from app.cli.main import main
        sys.exit(main(sys.argv[1:]))
    """, "swap", "--models", str(kit_dir), "-s", photos["source"], "-t", photos["target"],
        "-o", str(tmp_path / "out.png"), env={"SWAPCAST_HOME": str(tmp_path / "home"), "SWAPCAST_ACCEPT_NOTICE": "1"})
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("swapcast: error:")]
    assert len(errors) == 1, err
    assert_refusal(errors[0], bomb)
    assert "Traceback" not in err and not (tmp_path / "out.png").exists()
    assert peak < DECODED_MB / 2


def test_the_limit_is_a_setting_and_a_parameter(tmp_path, monkeypatch) -> None:
    photo = tmp_path / "small.png"
    cv2.imwrite(str(photo), np.full((48, 64, 3), 90, np.uint8))
    assert read_image(photo).shape == (48, 64, 3)  # 3072 pixels: well inside the default
    monkeypatch.setenv(MAX_PIXELS_ENV, "3000")
    with pytest.raises(InputError) as caught:
        read_image(photo)
    text = str(caught.value)
    assert "\n" not in text and "64x48" in text and "limit of 0.003 megapixels" in text
    assert f"{MAX_PIXELS_ENV}=3072" in text  # the value that would let this file through
    assert read_image(photo, max_pixels=3072).shape == (48, 64, 3)  # a caller's own limit wins
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(InputError, match=f"{MAX_PIXELS_ENV}='lots' is not a number of pixels"):
        read_image(photo)
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_a_video_stream_over_the_limit_is_refused_before_decoding(tmp_path, monkeypatch) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=4)  # 320x240 = 76800 pixels
    monkeypatch.setenv(MAX_PIXELS_ENV, "50000")
    with pytest.raises(InputError) as caught:
        probe(clip.path)
    text = str(caught.value)
    assert "\n" not in text and str(clip.path) in text and "320x240" in text and "0.05 megapixels" in text
    assert probe(clip.path, max_pixels=76800).width == 320
    info = probe(clip.path, max_pixels=76800)
    with pytest.raises(InputError, match="320x240"):  # a reader given a probed info checks the stream again
        next(iter(VideoReader(clip.path, info=info)))
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert len(list(VideoReader(clip.path))) == 4


@pytest.mark.parametrize("damage", ["truncated", "bad checksum"])
def test_a_broken_png_is_our_one_line_error_and_nothing_from_libpng(damage, tmp_path, capfd) -> None:
    good = cv2.imencode(".png", (np.arange(64 * 64 * 3) % 251).astype(np.uint8).reshape(64, 64, 3))[1].tobytes()
    broken = good[: len(good) // 2] if damage == "truncated" else good[:100] + bytes([good[100] ^ 0xFF]) + good[101:]
    photo = tmp_path / "broken.png"
    photo.write_bytes(broken)
    capfd.readouterr()
    with pytest.raises(InputError) as caught:
        read_image(photo)
    assert str(photo) in str(caught.value) and "not a readable image" in str(caught.value)
    err = capfd.readouterr().err
    assert "libpng" not in err and "WARN" not in err and "ERROR" not in err, err
