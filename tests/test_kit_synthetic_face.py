"""The synthetic face is drawn where its truth says, in the proportions insightface aligns to."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from insightface.utils import face_align

from engines.testing import identity_code, skin_rule
from engines.testing import synthetic_face as sf

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # insightface's own skimage call


def test_palette_is_skin_with_margin_and_well_separated() -> None:
    """Every model relies on palette skins passing the colour rule and being far apart."""
    assert len(sf.IDENTITIES) >= 6 and len({i.name for i in sf.IDENTITIES}) == len(sf.IDENTITIES)
    for identity in sf.IDENTITIES:
        blue, _, red = identity.skin_bgr
        assert red >= skin_rule.PALETTE_RED_MIN and red - blue >= skin_rule.PALETTE_RED_MINUS_BLUE_MIN
        assert not skin_rule.hard_skin_mask(np.array([[identity.eye_bgr]], np.uint8)).any()
    for a, b in itertools.combinations(sf.IDENTITIES, 2):
        assert np.linalg.norm(np.subtract(a.skin_rgb, b.skin_rgb)) > 60
    assert sf.identity_by_name("lime").name == "lime"
    with pytest.raises(KeyError):
        sf.identity_by_name("nobody")


def test_truth_matches_the_drawing() -> None:
    frame = sf.plain_background(500, 400)
    identity = sf.identity_by_name("amber")
    truth = sf.draw_face(frame, (250.5, 190.25), 200.0, identity)
    assert truth.box == pytest.approx((170.5, 90.25, 330.5, 290.25))
    skin = skin_rule.hard_skin_mask(frame)
    ys, xs = np.nonzero(skin)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((171, 330, 91, 289), abs=1.5)
    kps = truth.kps_array()
    for x, y in [*kps[:3], kps[3:].mean(axis=0)]:  # eyes, nose and mouth centre are dark features
        assert not skin[int(round(y)), int(round(x))]
    assert np.linalg.norm(kps[4] - kps[3]) > 0.3 * truth.height  # mouth corners at the mouth's ends


def test_aligned_crop_puts_the_face_where_the_models_look() -> None:
    """norm_crop maps the keypoints onto the ArcFace template, so the face lands at (56, 64), 90 px tall."""
    frame = sf.busy_background(640, 480, seed=1)
    truth = sf.draw_face(frame, (300.0, 220.0), 180.0, sf.IDENTITIES[0])
    crop = face_align.norm_crop(frame, truth.kps_array(), 112)
    skin = skin_rule.hard_skin_mask(crop)
    ys, xs = np.nonzero(skin)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((20, 92, 19, 109), abs=2)
    region = identity_code.RECOGNIZER_REGION.weights()[0, 0] > 0
    assert skin[region].mean() > 0.85  # the measured region is mostly skin


def test_busy_background_is_never_skin() -> None:
    for seed in range(4):
        assert not skin_rule.hard_skin_mask(sf.busy_background(320, 240, seed=seed)).any()
    with pytest.raises(ValueError):
        sf.plain_background(10, 10, bgr=(0, 0, 255))
