"""An external engine's output: written beside the destination, checked, tagged, then renamed.

External engines write to a temporary name, so a crash never leaves a half-written file under the
user's name. Before the rename the file must really be an image (or a video with frames): an engine
that exits 0 with garbage fails clearly instead of handing the user a broken file.

Tags (engines.metadata) go in without re-encoding: PNG text chunks and a JPEG EXIF segment are
inserted into the bytes; videos are re-muxed (stream copy) with the container comment. Other image
formats are re-encoded once (lossless for PNG/TIFF, quality 95 otherwise).
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from pathlib import Path

from engines.errors import InputError
from engines.imaging import IMAGE_SUFFIXES, read_image
from engines.metadata import AI_TAG, encode_tagged_image, output_tags

from .errors import EngineFailure

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def temp_output(final: Path, engine: str) -> Path:
    """A hidden name beside the destination with the same extension (engines pick formats by it)."""
    return final.with_name(f".{final.stem}.{engine}-{uuid.uuid4().hex[:8]}.part{final.suffix}")


def discard(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def finalize(engine: str, version: str | None, produced: Path, final: Path, is_image: bool) -> None:
    """Check `produced`, tag it, and move it to `final`; EngineFailure if it is not a usable output."""
    try:
        if not produced.is_file():
            raise EngineFailure(f"{engine} reported success but wrote no output file ({produced.name})")
        if produced.stat().st_size == 0:
            raise EngineFailure(f"{engine} wrote an empty output file")
        tags = output_tags(f"{engine} {version}" if version else engine)
        if is_image:
            check_image(engine, produced)
            tag_image_file(produced, tags)
            os.replace(produced, final)
        else:
            check_video(engine, produced)
            tagged = produced.with_name(produced.name + ".tagged" + final.suffix)
            try:
                remux_with_tags(produced, tagged, tags)
                os.replace(tagged, final)
            finally:
                discard(tagged)
    finally:
        discard(produced)


def check_image(engine: str, path: Path) -> None:
    try:
        read_image(path)
    except InputError as error:
        raise EngineFailure(f"{engine} wrote an output that is not a usable image: {error.problem}") from None


def check_video(engine: str, path: Path) -> None:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EngineFailure(f"{engine} wrote an output with no video stream")
            for _frame in container.decode(video=0):
                return
    except EngineFailure:
        raise
    except Exception as error:  # noqa: BLE001 — PyAV's errors are many; all mean "not a video"
        raise EngineFailure(f"{engine} wrote an output that is not a usable video: {error}") from None
    raise EngineFailure(f"{engine} wrote a video with no decodable frame")


def tag_image_file(path: Path, tags: dict[str, str]) -> None:
    data = path.read_bytes()
    if data.startswith(_PNG_SIGNATURE):
        tagged = _png_with_text(data, tags)
    elif data.startswith(b"\xff\xd8"):
        tagged = _jpeg_with_exif(data, tags)
    else:
        suffix = path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".png"
        tagged = encode_tagged_image(read_image(path), suffix, tags)
    tmp = path.with_name(path.name + ".tag")
    tmp.write_bytes(tagged)
    os.replace(tmp, path)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _png_with_text(data: bytes, tags: dict[str, str]) -> bytes:
    # IHDR is always first: signature (8) + length (4) + type (4) + 13 bytes + CRC (4).
    ihdr_end = 8 + 4 + 4 + struct.unpack(">I", data[8:12])[0] + 4
    chunks = b"".join(_png_chunk(b"tEXt", key.capitalize().encode("latin-1", "replace") + b"\x00"
                                 + value.encode("latin-1", "replace")) for key, value in tags.items())
    return data[:ihdr_end] + chunks + data[ihdr_end:]


def _jpeg_with_exif(data: bytes, tags: dict[str, str]) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = tags.get("description", AI_TAG)  # ImageDescription
    exif[0x0131] = tags.get("software", "SwapCast")  # Software
    payload = exif.tobytes()  # b"Exif\0\0" + TIFF header and IFD
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    position = 2
    if data[2:4] == b"\xff\xe0":  # keep a JFIF APP0 first, as readers expect
        position = 4 + struct.unpack(">H", data[4:6])[0]
    # Readers take the first EXIF segment, so ours (inserted before any other) is the one they show.
    return data[:position] + segment + data[position:]


def remux_with_tags(source: Path, destination: Path, tags: dict[str, str]) -> None:
    """Stream copy (no re-encode) into a container that carries the tags."""
    import av

    try:
        with av.open(str(source)) as inp, av.open(str(destination), "w") as out:
            out.metadata.update(tags)
            streams = {}
            for stream in inp.streams:
                if stream.type in ("video", "audio"):
                    streams[stream.index] = out.add_stream_from_template(stream)
            for packet in inp.demux(*[inp.streams[index] for index in streams]):
                if packet.dts is None:  # flush packets carry nothing
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    except Exception as error:  # noqa: BLE001
        raise EngineFailure(f"cannot tag the engine's video output: {error}") from None
