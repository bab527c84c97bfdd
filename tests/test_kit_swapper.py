"""The kit swapper carries the source's identity into the target, through insightface's INSwapper.

This is what makes engine tests meaningful: after a swap the face region takes the source's skin
colour (and the recognizer says "source"), while the frame away from the face is untouched.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from insightface.app.common import Face
from insightface.utils import face_align

from engines.testing import skin_rule
from engines.testing import synthetic_face as sf
from engines.testing.insight import KitInsightface, load_kit_insightface
from engines.testing.samples import SOURCE_B, TARGET, load_truth

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # insightface's own skimage call


@pytest.fixture(scope="module", params=["inswapper_128", "inswapper_128_fp16"])
def kit(kit_dir: Path, request: pytest.FixtureRequest) -> KitInsightface:
    return load_kit_insightface(kit_dir, swapper_id=request.param)


@pytest.fixture(scope="module")
def swapped(kit_dir: Path, kit: KitInsightface) -> tuple[np.ndarray, np.ndarray, Face, Face]:
    """(target, result, target face, source face): source_b's face swapped into target.png."""
    samples = kit_dir / "samples"
    target = cv2.imread(str(samples / "target.png"))
    (source_face,) = kit.faces(cv2.imread(str(samples / "source_b.png")))
    (target_face,) = kit.faces(target)
    result = kit.swapper.get(target.copy(), target_face, source_face, paste_back=True)
    return target, result, target_face, source_face


def inner_face(image: np.ndarray, truth: sf.FaceTruth) -> np.ndarray:
    """Skin pixels of the face's central box (well inside the pasted region)."""
    x1, y1, x2, y2 = truth.box
    w, h = x2 - x1, y2 - y1
    patch = image[int(y1 + 0.2 * h):int(y2 - 0.2 * h), int(x1 + 0.2 * w):int(x2 - 0.2 * w)]
    return patch[skin_rule.hard_skin_mask(patch)]


def test_face_takes_the_source_colour(kit_dir: Path, swapped: tuple[np.ndarray, np.ndarray, Face, Face]) -> None:
    target, result, _, _ = swapped
    truth = load_truth(kit_dir / "samples").images["target.png"].faces[0]
    before, after = inner_face(target, truth), inner_face(result, truth)
    assert np.abs(before.mean(axis=0) - sf.identity_by_name(TARGET).skin_bgr).max() < 3
    assert np.abs(after.mean(axis=0) - sf.identity_by_name(SOURCE_B).skin_bgr).max() < 10
    assert len(after) > 0.8 * len(before)  # the eyes, nose and mouth stayed dark: not painted over


def test_frame_away_from_the_face_is_unchanged(kit_dir: Path, swapped: tuple[np.ndarray, np.ndarray, Face, Face]) -> None:
    target, result, _, _ = swapped
    x1, y1, x2, y2 = load_truth(kit_dir / "samples").images["target.png"].faces[0].box
    margin = 0.5 * (y2 - y1)  # the aligned crop reaches a little past the face box
    far = np.ones(target.shape[:2], bool)
    far[max(0, int(y1 - margin)):int(y2 + margin), max(0, int(x1 - margin)):int(x2 + margin)] = False
    assert np.array_equal(result[far], target[far])


def test_result_is_recognised_as_the_source(kit: KitInsightface,
                                            swapped: tuple[np.ndarray, np.ndarray, Face, Face]) -> None:
    _, result, target_face, source_face = swapped
    (face,) = kit.faces(result)  # still detected: the new skin is a palette skin
    assert np.abs(face.bbox - target_face.bbox).max() < 4
    assert kit.recognizer.compute_sim(face.embedding, source_face.embedding) > 0.8
    assert kit.recognizer.compute_sim(face.embedding, target_face.embedding) < 0.5


def test_forgetting_the_emap_product_gives_garbage(kit_dir: Path, kit: KitInsightface,
                                                   swapped: tuple[np.ndarray, np.ndarray, Face, Face]) -> None:
    """A caller must feed normalize(embedding @ emap); the raw embedding decodes to a wrong colour."""
    target, _, target_face, source_face = swapped
    crop, _ = face_align.norm_crop2(target, target_face.kps, 128)
    blob = cv2.dnn.blobFromImage(crop, 1.0, (128, 128), (0, 0, 0), swapRB=True)  # forward() divides by 255
    latent = source_face.normed_embedding.reshape(1, -1) @ kit.swapper.emap
    good = kit.swapper.forward(blob, (latent / np.linalg.norm(latent)).astype(np.float32))
    bad = kit.swapper.forward(blob, source_face.normed_embedding.reshape(1, -1).astype(np.float32))
    cheek = (slice(None), slice(None), 64, 40)  # a skin pixel of the aligned crop (RGB)
    want = np.array(sf.identity_by_name(SOURCE_B).skin_rgb) / 255.0
    assert np.abs(good[cheek][0] - want).max() < 10 / 255
    assert np.abs(bad[cheek][0] - want).max() > 50 / 255


def test_batch_of_two_swaps_each_face_independently(kit: KitInsightface) -> None:
    """The app batches faces; each row must get its own source."""
    session = kit.swapper.session
    image = sf.plain_background(400, 400)
    truth = sf.draw_face(image, (200.0, 200.0), 220.0, sf.identity_by_name(TARGET))
    crop, _ = face_align.norm_crop2(image, truth.kps_array(), 128)
    blob = cv2.dnn.blobFromImage(crop, 1.0 / 255.0, (128, 128), (0, 0, 0), swapRB=True)
    latents = []
    for name in ("coral", "lime"):
        src = sf.plain_background(400, 400)
        src_truth = sf.draw_face(src, (200.0, 200.0), 220.0, sf.identity_by_name(name))
        emb = kit.recognizer.get(src, Face(bbox=src_truth.box_array(), kps=src_truth.kps_array(), det_score=1.0))
        latent = (emb / np.linalg.norm(emb)) @ kit.swapper.emap
        latents.append(latent / np.linalg.norm(latent))
    out = session.run(None, {"target": np.concatenate([blob, blob]), "source": np.stack(latents).astype(np.float32)})[0]
    for row, name in zip(out, ("coral", "lime")):
        assert np.abs(row[:, 64, 40] * 255 - np.array(sf.identity_by_name(name).skin_rgb)).max() < 10
