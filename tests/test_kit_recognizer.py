"""The kit recognizer tells identities apart and ignores small misalignment, via insightface's path.

Engine tests identify who is in a swapped frame by embedding; that needs different identities far
apart (cos < 0.5) and the same face, shifted or rescaled a little in the crop, nearly equal (> 0.95).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from insightface.app.common import Face
from insightface.model_zoo import get_model
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.utils import face_align

from engines.testing import identity_code
from engines.testing import synthetic_face as sf
from engines.testing.insight import CPU, kit_model_path

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # insightface's own skimage call


@lru_cache(maxsize=1)
def background() -> np.ndarray:
    return sf.busy_background(640, 640, seed=3)


@pytest.fixture(scope="module")
def recognizer(kit_dir: Path) -> ArcFaceONNX:
    rec = get_model(str(kit_model_path(kit_dir, "w600k_r50")), providers=CPU)
    rec.prepare(ctx_id=-1)
    return rec


def embed(recognizer: ArcFaceONNX, identity: sf.Identity, centre: tuple[float, float] = (320.0, 320.0),
          height: float = 220.0, kps_shift: tuple[float, float] = (0.0, 0.0), kps_scale: float = 1.0) -> np.ndarray:
    """Draws the face, perturbs its true keypoints, and embeds through ArcFaceONNX.get (norm_crop)."""
    image = background().copy()
    truth = sf.draw_face(image, centre, height, identity)
    kps = truth.kps_array()
    kps = (kps - kps.mean(axis=0)) * kps_scale + kps.mean(axis=0) + np.asarray(kps_shift, np.float32)
    return recognizer.get(image, Face(bbox=truth.box_array(), kps=kps, det_score=0.99))


def test_identities_are_far_apart(recognizer: ArcFaceONNX) -> None:
    embeddings = {i.name: embed(recognizer, i) for i in sf.IDENTITIES}
    for a, b in itertools.combinations(embeddings, 2):
        assert recognizer.compute_sim(embeddings[a], embeddings[b]) < 0.5, (a, b)


@pytest.mark.parametrize("shift,scale", [((3.0, 0.0), 1.0), ((0.0, -3.0), 1.0), ((-2.0, 2.0), 1.0),
                                         ((0.0, 0.0), 0.93), ((0.0, 0.0), 1.07), ((2.0, 1.0), 1.05)])
def test_small_misalignment_keeps_the_identity(recognizer: ArcFaceONNX, shift: tuple[float, float],
                                               scale: float) -> None:
    for identity in sf.IDENTITIES:
        reference = embed(recognizer, identity)
        moved = embed(recognizer, identity, kps_shift=shift, kps_scale=scale)
        assert recognizer.compute_sim(reference, moved) > 0.95, identity.name


def test_same_identity_across_place_and_size(recognizer: ArcFaceONNX) -> None:
    for identity in sf.IDENTITIES[:4]:
        reference = embed(recognizer, identity)
        for centre, height in (((150.0, 200.0), 80.0), ((420.0, 380.0), 400.0)):
            other = embed(recognizer, identity, centre=centre, height=height)
            assert recognizer.compute_sim(reference, other) > 0.95


def test_embedding_encodes_the_skin_colour(recognizer: ArcFaceONNX) -> None:
    """The swapper decodes the same code, so the embedding must carry the colour itself."""
    for identity in sf.IDENTITIES:
        decoded = identity_code.decode_embedding(embed(recognizer, identity))
        assert np.abs(decoded - np.array(identity.skin_rgb)).max() < 5.0
        expected = identity_code.encode_colour(identity.skin_rgb)
        assert identity_code.cosine(embed(recognizer, identity), expected) > 0.99


def test_get_feat_batches_aligned_crops(recognizer: ArcFaceONNX) -> None:
    """get_feat on a list of norm_crop crops runs them as one batch, row by row equal to single calls."""
    crops = []
    for identity in sf.IDENTITIES[:3]:
        image = sf.plain_background(400, 400)
        truth = sf.draw_face(image, (200.0, 200.0), 200.0, identity)
        crops.append(face_align.norm_crop(image, landmark=truth.kps_array(), image_size=112))
    batch = recognizer.get_feat(crops)
    assert batch.shape == (3, 512)
    for crop, row in zip(crops, batch):
        np.testing.assert_allclose(recognizer.get_feat(crop)[0], row, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
