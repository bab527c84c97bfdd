"""What avatar sessions take and refuse: a photo without a face, bad audio frames, bad socket
parameters, Opus in Ogg and WebM, an idle loop video, a server-side path, the token roles, and heartbeats."""

from __future__ import annotations

import asyncio
import io
import json
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from websockets.asyncio.client import connect

from app.server.roles import Role
from engines.testing.speech import speech_like
from avatar_support import samples  # noqa: F401 — a fixture
from avatar_support import (
    avatar_server, create, create_ok, decode, refusal, session_ids, socket_url, speech_chunks, stream_audio,
    until_closed,
)


def test_a_photo_without_a_face_is_refused_in_one_line(tmp_path: Path, samples: Path) -> None:
    blank = tmp_path / "wall.png"
    gradient = np.tile(np.linspace(40, 200, 320, dtype=np.uint8), (240, 1))
    cv2.imwrite(str(blank), cv2.merge([gradient, gradient, gradient]))
    with avatar_server(tmp_path / "server") as server, server.client(Role.OPERATOR) as client:
        message = refusal(create(client, blank), 422, "no_face")
        assert "no face found in the photo" in message and "send a picture" in message
        assert session_ids(client) == []
        assert not any((tmp_path / "server" / "uploads").rglob("*.png"))  # nothing kept
        text = client.post("/api/avatar/sessions", files=[("photo", ("face.png", b"not a picture", "image/png"))])
        assert "face.png" in refusal(text, 415, "unsupported_media")


def test_bad_audio_frames_and_parameters_close_the_socket_with_a_reason(tmp_path: Path, samples: Path) -> None:
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, samples / "target.png")
        odd = asyncio.run(stream_audio(socket_url(server, session), [b"\x00\x01\x02"], then="wait"))
        assert odd.close_code == 1007 and "PCM16 frame of 3 bytes" in odd.close_reason
        stereo = asyncio.run(stream_audio(socket_url(server, session, channels=2), [b"\x00" * 6], then="wait"))
        assert stereo.close_code == 1007 and "multiples of 4 bytes" in stereo.close_reason
        garbage = asyncio.run(stream_audio(socket_url(server, session, format="opus"), [b"RIFF" + b"\x00" * 64],
                                           then="wait"))
        assert garbage.close_code == 1007 and "not Opus in Ogg or WebM" in garbage.close_reason
        for query, words in (({"format": "mp3"}, "unknown audio format"), ({"rate": "2"}, "not an audio rate"),
                             ({"channels": "6"}, "mono (1) or stereo (2)")):
            refused = asyncio.run(stream_audio(socket_url(server, session, **query), [], then="wait"))
            assert refused.close_code == 4400 and words in refused.close_reason
        text = asyncio.run(stream_audio(socket_url(server, session), ["hello"], then="wait"))  # type: ignore[list-item]
        assert text.close_code == 1003 and '{"type": "end"}' in text.close_reason
        # After all that the session is still there, and still works.
        assert session_ids(client) == [session]
        fine = asyncio.run(stream_audio(socket_url(server, session), speech_chunks(speech_like(0.4))))
        assert fine.close_code == 1000 and fine.of("end")[0]["frames"] == 10


def opus_in(container_format: str, samples: np.ndarray, rate: int = 48000) -> bytes:
    """Speech as a browser's MediaRecorder would send it: Opus in Ogg (Firefox) or WebM (Chrome)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("container_format", ["ogg", "webm"])
def test_opus_streams_like_pcm(tmp_path: Path, samples: Path, container_format: str) -> None:
    seconds = 1.6
    data = opus_in(container_format, speech_like(seconds, [(0.4, 1.2)], rate=48000))
    chunks = [data[i:i + 2000] for i in range(0, len(data), 2000)]
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, samples / "target.png")
        received = asyncio.run(stream_audio(socket_url(server, session, format="opus"), chunks, fragments=2))
    assert received.close_code == 1000, received.close_reason
    end = received.of("end")[0]
    assert abs(end["audio_s"] - seconds) < 0.05  # Opus frames are 20 ms
    assert end["frames"] == math.ceil(end["audio_s"] * 25 - 1e-9)
    decoded = decode(received.video)
    assert decoded.audio_codec == "aac" and len(decoded.frames) == end["frames"]
    assert abs(decoded.audio_s - end["audio_s"]) < 0.1


def test_an_idle_loop_plays_at_its_own_rate(tmp_path: Path, samples: Path) -> None:
    loop = samples / "target.mp4"
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        answer = client.post("/api/avatar/sessions", files=[("loop", (loop.name, loop.read_bytes(), "video/mp4"))])
        assert answer.status_code == 201, answer.text
        described = answer.json()["data"]
        assert described["kind"] == "loop"
        with av.open(str(loop)) as container:
            rate = round(float(container.streams.video[0].average_rate))
            length = container.streams.video[0].frames
        assert described["fps"] == rate
        seconds = 2 * length / rate + 0.5  # longer than the loop: it starts again
        received = asyncio.run(stream_audio(socket_url(server, described["id"]),
                                            speech_chunks(speech_like(seconds, []))))
    assert received.close_code == 1000, received.close_reason
    decoded = decode(received.video)
    assert len(decoded.frames) == math.ceil(seconds * rate - 1e-9)
    # Silence: the mouth stays shut, so frame i and frame i + loop length are the same picture.
    first, again = decoded.frames[1].astype(np.int16), decoded.frames[1 + length].astype(np.int16)
    other = decoded.frames[1 + length // 2].astype(np.int16)
    assert np.abs(first - again).mean() < np.abs(first - other).mean() / 3


def test_a_server_path_inside_allow_paths(tmp_path: Path, samples: Path) -> None:
    photo = tmp_path / "face.png"
    photo.write_bytes((samples / "target.png").read_bytes())
    with avatar_server(tmp_path) as server, server.client(Role.OPERATOR) as client:
        made = client.post("/api/avatar/sessions", json={"path": str(photo), "fps": 20, "weight": 0.5})
        assert made.status_code == 201, made.text
        assert (made.json()["data"]["fps"], made.json()["data"]["weight"]) == (20, 0.5)
        outside = client.post("/api/avatar/sessions", json={"path": str(samples / "target.png")})
        assert "outside the folders" in refusal(outside, 403, "path_not_allowed")
        bad = client.post("/api/avatar/sessions", json={"path": str(photo), "weight": 3})
        assert "weight must be a number from 0 to 1" in refusal(bad, 422, "invalid_request")
        client.delete(f"/api/avatar/sessions/{made.json()['data']['id']}")
    assert photo.is_file()  # a server path is the operator's file: never removed


def test_token_roles(tmp_path: Path, samples: Path) -> None:
    with avatar_server(tmp_path) as server, server.client(Role.VIEWER) as viewer:
        with server.client(Role.OPERATOR) as operator:
            session = create_ok(operator, samples / "target.png")
        assert viewer.get("/api/avatar/sessions").status_code == 200
        assert create(viewer, samples / "target.png").status_code == 403
        assert viewer.delete(f"/api/avatar/sessions/{session}").status_code == 403
        with server.client(None) as anonymous:
            assert anonymous.get("/api/avatar/sessions").status_code == 401
        refused = asyncio.run(stream_audio(socket_url(server, session, role=Role.VIEWER), [], then="wait"))
        assert refused.close_code == 1008 and "needs an operator token" in refused.close_reason


def test_heartbeats_while_the_client_is_quiet(tmp_path: Path, samples: Path) -> None:
    with avatar_server(tmp_path, heartbeat_s=0.1) as server, server.client(Role.OPERATOR) as client:
        session = create_ok(client, samples / "target.png")

        async def quiet() -> list[dict]:
            messages = []
            async with connect(socket_url(server, session)) as socket:
                while len(messages) < 3:
                    messages.append(json.loads(await socket.recv()))
                await socket.send(json.dumps({"type": "end"}))
                code, _reason = await until_closed(socket)
                assert code == 1000
            return messages

        messages = asyncio.run(quiet())
    assert [m["type"] for m in messages] == ["ready", "heartbeat", "heartbeat"]
    assert messages[1]["data"] == {"interval_s": 0.1}


def test_the_avatar_client_in_the_api_doc_works_as_written(tmp_path: Path, samples: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    doc = (Path(__file__).resolve().parents[1] / "docs" / "API.md").read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", doc, flags=re.S)
                   if "/api/avatar/sessions" in block)
    work = tmp_path / "client"
    work.mkdir()
    (work / "face.jpg").write_bytes((samples / "target.png").read_bytes())
    (work / "client.py").write_text(example, encoding="utf-8")
    with avatar_server(tmp_path / "server") as server:
        env = {**os.environ, "SWAPCAST_URL": server.url, "SWAPCAST_TOKEN": server.tokens[Role.OPERATOR]}
        run = subprocess.run([sys.executable, "client.py"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 0, run.stderr
    assert [kind for kind in run.stdout.split() if kind != "heartbeat"] == ["ready", "end"]
    decoded = decode((work / "avatar.mp4").read_bytes())
    assert len(decoded.frames) == 25 and decoded.audio_codec == "aac"  # one second of (silent) speech
