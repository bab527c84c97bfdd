"""Alignment and paste-back on plain arrays: correct geometry, and nothing outside the face changes."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform

from engines.builtin.align.templates import arcface_template
from engines.builtin.align.transform import crop, estimate_similarity, transform_points
from engines.builtin.paste.masks import blend_mask, feathered_box
from engines.builtin.paste.paste_back import paste_back


def _skimage_similarity(src: np.ndarray, dst: np.ndarray) -> SimilarityTransform:
    # scikit-image 0.26 deprecates estimate() for the from_estimate() constructor (FutureWarning).
    if hasattr(SimilarityTransform, "from_estimate"):
        return SimilarityTransform.from_estimate(src, dst)
    transform = SimilarityTransform()
    transform.estimate(src, dst)
    return transform


def test_similarity_matches_skimage_least_squares() -> None:
    rng = np.random.default_rng(1)
    template = arcface_template(128)
    src = template * 2.3 + np.array([400.0, 250.0]) + rng.normal(0, 1.5, template.shape)
    ours = estimate_similarity(src, template)
    reference = _skimage_similarity(src, template)
    np.testing.assert_allclose(ours, reference.params[:2], atol=1e-6)


def test_similarity_recovers_a_rotation_exactly() -> None:
    angle = np.deg2rad(17)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * 1.7
    template = arcface_template(112).astype(np.float64)
    src = template @ rot.T + np.array([30.0, -12.0])
    matrix = estimate_similarity(src, template)
    np.testing.assert_allclose(transform_points(src, matrix), template, atol=1e-6)


def test_degenerate_keypoints_are_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        estimate_similarity(np.ones((5, 2)), arcface_template(112))


def _frame_and_matrix() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    kps = arcface_template(128) * 2.0 + np.array([800.0, 400.0])
    return frame, estimate_similarity(kps, arcface_template(128))


def test_paste_back_changes_only_the_face_region() -> None:
    frame, matrix = _frame_and_matrix()
    original = frame.copy()
    swapped = np.full((128, 128, 3), (0, 0, 255), np.uint8)  # pure red face
    region = paste_back(frame, swapped, blend_mask(128, False), matrix)
    # Outside the face's box: bit-identical.
    outside = np.ones(frame.shape[:2], bool)
    outside[region.y0:region.y1, region.x0:region.x1] = False
    assert np.array_equal(frame[outside], original[outside])
    # The box is about the size of the face (a 256-px crop), not the frame.
    assert 200 <= region.x1 - region.x0 <= 262 and 200 <= region.y1 - region.y0 <= 262
    # The middle of the face took the swapped colour.
    centre = frame[(region.y0 + region.y1) // 2, (region.x0 + region.x1) // 2]
    assert centre[2] == 255 and centre[0] == 0 and centre[1] == 0


def test_paste_back_is_soft_at_the_edges_and_untouched_at_the_border() -> None:
    frame, matrix = _frame_and_matrix()
    original = frame.copy()
    swapped = np.zeros((128, 128, 3), np.uint8)
    region = paste_back(frame, swapped, blend_mask(128, False), matrix)
    # The box's outer ring keeps the original pixels (alpha is 0 at the crop's border).
    ring = (slice(region.y0, region.y0 + 2), slice(region.x0, region.x1))
    assert np.abs(frame[ring].astype(int) - original[ring].astype(int)).max() <= 2


def test_mouth_mask_keeps_the_mouth() -> None:
    plain = blend_mask(128, False).alpha
    with_mouth = blend_mask(128, True).alpha
    mouth = arcface_template(128)[3:5].mean(axis=0).astype(int)
    assert plain[mouth[1], mouth[0]] == 255
    assert with_mouth[mouth[1], mouth[0]] < 40
    eye = arcface_template(128)[0].astype(int)
    assert with_mouth[eye[1], eye[0]] == plain[eye[1], eye[0]]


def test_mask_is_made_once_per_size() -> None:
    assert feathered_box(128) is feathered_box(128)
    assert not feathered_box(128).flags.writeable


def test_crop_has_the_model_size_whatever_the_frame() -> None:
    frame, matrix = _frame_and_matrix()
    assert crop(frame, matrix, 128).shape == (128, 128, 3)
