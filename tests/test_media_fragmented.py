"""The fragmented MP4 encoder on its own: the header first, then one fragment per chunk, each chunk's
first frame a keyframe, readable from the bytes alone with the AI-altered tag."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from app.media.fragmented import FragmentedMp4Encoder
from engines.metadata import AI_TAG


def boxes(data: bytes) -> list[str]:
    """The top-level MP4 boxes, in order."""
    names, offset = [], 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset:offset + 8])
        names.append(name.decode("ascii"))
        offset += size
    assert offset == len(data)  # whole boxes only: each piece can be handed to a player as it is
    return names


def test_one_fragment_per_chunk_each_starting_with_a_keyframe() -> None:
    encoder = FragmentedMp4Encoder(161, 121, 25, 16000, 1)  # odd sizes: cropped to even
    pieces = []
    for chunk in range(4):
        # As in a lip-synced stream, the picture trails the sound: chunk 0 has 3 frames, the others 5
        # (0.2 s), the sound is 0.2 s a chunk.
        frames = [np.full((121, 161, 3), 40 * chunk + 5 * i, np.uint8) for i in range(3 if chunk == 0 else 5)]
        pieces.append(encoder.add(frames, np.zeros(3200, np.int16)))
    pieces.append(encoder.close())
    assert boxes(pieces[0]) == ["ftyp", "moov"]  # the header: nothing of a chunk is sent before it is whole
    assert [boxes(piece) for piece in pieces[1:4]] == [["moof", "mdat"]] * 3  # the chunk before, as one fragment
    assert boxes(pieces[4]) == ["moof", "mdat", "mfra"]  # the last chunk, and the index
    with av.open(io.BytesIO(b"".join(pieces))) as container:
        assert AI_TAG in container.metadata["comment"]
        frames = list(container.decode(video=0))
    assert len(frames) == 18 and (frames[0].width, frames[0].height) == (160, 120)
    assert [i for i, frame in enumerate(frames) if frame.key_frame] == [0, 3, 8, 13]
    assert [round(float(frame.time), 3) for frame in frames] == [round(i / 25, 3) for i in range(18)]
    levels = [frames[i].to_ndarray(format="bgr24").mean() for i in (0, 3, 8, 13)]
    assert levels == pytest.approx([0, 40, 80, 120], abs=1.5)  # each chunk's own picture, in order


def test_more_than_two_channels_is_refused() -> None:
    with pytest.raises(ValueError, match="mono or stereo"):
        FragmentedMp4Encoder(64, 64, 25, 48000, 6)
