"""Face selection policies and temporal smoothing, on hand-made faces."""

from __future__ import annotations

import numpy as np

from engines.base import FaceMapping, FaceSelection, Identity, SwapContext
from engines.builtin.detect.faces import DetectedFace
from engines.builtin.detect.selection import select
from engines.builtin.detect.smoothing import KeypointSmoother


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)


def _face(x: float, size: float, embedding: np.ndarray | None = None) -> DetectedFace:
    box = np.array([x, 100, x + size, 100 + size], np.float32)
    kps = np.tile(np.array([x + size / 2, 100 + size / 2], np.float32), (5, 1))
    return DetectedFace(box=box, kps=kps, score=0.9, embedding=embedding)


ALICE, BOB, CARA, DAN = (Identity(n, _unit(i)) for i, n in enumerate(["alice", "bob", "cara", "dan"]))


def test_largest_picks_the_biggest_face() -> None:
    faces = [_face(0, 50), _face(300, 120), _face(600, 80)]
    pairs = select(faces, SwapContext(identities=[ALICE]))
    assert [(f.box[0], i.name) for f, i in pairs] == [(300, "alice")]


def test_all_swaps_every_face_with_the_active_identity() -> None:
    faces = [_face(0, 50), _face(300, 120)]
    pairs = select(faces, SwapContext(identities=[ALICE, BOB], active=1, selection=FaceSelection.ALL))
    assert [i.name for _, i in pairs] == ["bob", "bob"]


def test_position_counts_left_to_right() -> None:
    faces = [_face(600, 50), _face(0, 50), _face(300, 50)]
    ctx = SwapContext(identities=[ALICE], selection=FaceSelection.POSITION, position=1)
    assert [f.box[0] for f, _ in select(faces, ctx)] == [300]
    ctx.position = 5
    assert select(faces, ctx) == []


def test_reference_swaps_only_faces_like_the_reference() -> None:
    faces = [_face(0, 50, CARA.embedding), _face(300, 50, DAN.embedding)]
    ctx = SwapContext(identities=[ALICE], selection=FaceSelection.REFERENCE, references=[DAN])
    assert [f.box[0] for f, _ in select(faces, ctx)] == [300]


def test_mapping_sends_each_reference_to_its_source() -> None:
    faces = [_face(0, 50, CARA.embedding), _face(300, 50, DAN.embedding), _face(600, 50, _unit(99))]
    ctx = SwapContext(selection=FaceSelection.MAPPING,
                      mappings=[FaceMapping(CARA, ALICE), FaceMapping(DAN, BOB)])
    assert [(f.box[0], i.name) for f, i in select(faces, ctx)] == [(0, "alice"), (300, "bob")]


def test_no_identity_means_nothing_to_swap() -> None:
    assert select([_face(0, 50)], SwapContext()) == []


def test_smoothing_removes_jitter_but_follows_motion() -> None:
    smoother = KeypointSmoother()
    rng = np.random.default_rng(3)
    still = []
    for i in range(60):
        face = _face(100, 100)
        face.kps = face.kps + rng.normal(0, 2.0, face.kps.shape).astype(np.float32)
        smoother.smooth([face], i / 30)
        still.append(face.kps[0, 0])
    assert np.std(still[10:]) < 1.0  # raw jitter has std 2 px
    # A steady move of 10 px a frame is followed with little lag.
    for i in range(60, 90):
        face = _face(100 + (i - 60) * 10, 100)
        smoother.smooth([face], i / 30)
    assert abs(face.kps[0, 0] - (100 + 29 * 10 + 50)) < 15


def test_smoothing_keeps_several_faces_apart_even_when_one_jumps() -> None:
    smoother = KeypointSmoother()
    for i in range(5):
        faces = [_face(100, 100), _face(600, 100)]
        smoother.smooth(faces, i / 30)
    # The second face is matched first this time, and the first one jumps across the frame.
    faces = [_face(600, 100), _face(1500, 100)]
    smoother.smooth(faces, 5 / 30)
    assert abs(faces[0].kps[0, 0] - 650) < 1  # same track, smoothed in place
    assert abs(faces[1].kps[0, 0] - 1550) < 1  # a new track starts where the face is
