"""Avatar sessions through a real server: the kit's face photo lip-synced to speech sent over the
WebSocket, streamed back as fragmented MP4 that PyAV decodes."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from app.server.roles import Role
from engines.metadata import AI_TAG
from engines.testing.samples import load_truth
from engines.testing.speech import speech_like
from avatar_support import samples  # noqa: F401 — a fixture
from avatar_support import avatar_server, create_ok, decode, socket_url, speech_chunks, stream_audio
from test_lipsync_engine import mouth_area

SECONDS = 2.0
BURST = (0.6, 1.6)
VOICED_T, SILENT_T = 1.1, 0.2  # well inside the burst, well inside the silence before it
FPS = 25


def mean_change(frame: np.ndarray, photo: np.ndarray, area: tuple[slice, slice], inside: bool) -> float:
    """Mean absolute difference from the photo (grey levels) inside `area`, or everywhere else."""
    diff = np.abs(frame.astype(np.int16) - photo.astype(np.int16)).mean(axis=2)
    mask = np.zeros(diff.shape, bool)
    mask[area] = True
    return float(diff[mask if inside else ~mask].mean())


def test_two_concurrent_sessions_stream_lip_synced_fmp4(tmp_path: Path, samples: Path) -> None:
    photo = samples / "target.png"
    speech = speech_like(SECONDS, [BURST])
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        ids = [create_ok(client, photo, fps=FPS), create_ok(client, photo, fps=FPS)]
        assert ids[0] != ids[1]

        async def both() -> list:
            return await asyncio.gather(*(stream_audio(socket_url(server, i), speech_chunks(speech)) for i in ids))

        results = asyncio.run(both())
    import cv2

    picture = cv2.imread(str(photo))
    area = mouth_area(load_truth(samples).images["target.png"].faces[0])
    expected_frames = math.ceil(SECONDS * FPS)
    for session_id, received in zip(ids, results):
        ready = received.of("ready")[0]
        assert ready["session"] == session_id and (ready["width"], ready["height"], ready["fps"]) == (1280, 720, FPS)
        assert received.close_code == 1000, received.close_reason
        assert received.of("end")[0]["frames"] == expected_frames
        assert received.binary_before_end >= 3  # fragments came while the audio was still arriving
        assert bytes(received.video[4:8]) == b"ftyp"
        decoded = decode(received.video)
        assert decoded.video_codec == "h264" and decoded.audio_codec == "aac"
        assert len(decoded.frames) == expected_frames
        assert decoded.times == pytest.approx([i / FPS for i in range(expected_frames)], abs=1e-3)
        assert abs(decoded.audio_s - SECONDS) < 0.15  # AAC frames of 1024 samples round it up
        assert AI_TAG in decoded.comment
        voiced, silent = decoded.frames[int(VOICED_T * FPS)], decoded.frames[int(SILENT_T * FPS)]
        # The mouth opens with the voice and stays as in the photo in silence; outside the mouth the
        # picture is the photo. (Compared to the photo through H.264's loss: a few grey levels on the
        # smooth face, ~6 on the busy background.)
        changes = {name: (mean_change(frame, picture, area, inside=True), mean_change(frame, picture, area, inside=False))
                   for name, frame in (("voiced", voiced), ("silent", silent))}
        assert changes["voiced"][0] > 3 * changes["silent"][0]  # the mouth opened
        assert changes["silent"][0] < changes["silent"][1]  # shut: no further from the photo than the rest is
        assert abs(changes["voiced"][1] - changes["silent"][1]) < 1.0  # outside the mouth: the photo, both times
