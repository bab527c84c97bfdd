"""Where the swapped face lands: the engine's crops and paste-back, checked in pixels.

Colour and similarity checks pass even when the face is pasted a few pixels off, mirrored or
rotated; these tests look at positions. The truth comes from insightface itself (its
`estimate_norm` and template), not from our own alignment code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from insightface.utils.face_align import arcface_dst, estimate_norm

from engines.base import FaceSelection, Identity, LoadOptions, SwapContext
from engines.builtin.align.templates import arcface_template
from engines.builtin.align.transform import crop, estimate_similarity
from engines.builtin.engine import BuiltinEngine
from engines.models.catalog import load_catalog
from engines.models.store import ModelStore
from engines.testing.geometry_models import GeometrySwappers, decode_coordinates, write_geometry_swappers
from engines.testing.manifest import MANIFEST_NAME
from engines.testing.synthetic_face import FaceTruth, draw_face, identity_by_name

ANYONE = Identity("anyone", np.full(512, 1 / np.sqrt(512), np.float32))


def insightface_template(size: int) -> np.ndarray:
    """insightface's own rule (face_align.estimate_norm): scale by size/112, or by size/128 and
    shift x by 8 px at 128 (scaled)."""
    if size % 112 == 0:
        return arcface_dst * (size / 112.0)
    template = arcface_dst * (size / 128.0)
    template[:, 0] += 8.0 * size / 128.0
    return template


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12))


# ---- the templates ----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # inside insightface 2.1
@pytest.mark.parametrize("size", [112, 128, 256])
def test_templates_are_insightfaces(size: int) -> None:
    """The 128-px swap template is the 112 one scaled and moved 8 px right, exactly as insightface
    aligns inswapper's input: a crop made on an unshifted template puts the face 8 px off."""
    np.testing.assert_allclose(arcface_template(size), insightface_template(size), atol=1e-4)
    # And the matrices agree with insightface's estimate_norm for a tilted, off-centre face.
    rng = np.random.default_rng(size)
    angle = np.deg2rad(23.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    kps = arcface_dst.astype(np.float64) @ rotation.T * 2.7 + np.array([510.0, 190.0]) + rng.normal(0, 1.0, (5, 2))
    np.testing.assert_allclose(estimate_similarity(kps, arcface_template(size)), estimate_norm(kps, size), atol=1e-4)


# ---- crops ----------------------------------------------------------------------------------

KEYPOINT_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255))


def _dotted_frame(kps: np.ndarray, radius: int) -> np.ndarray:
    """A grey frame with one dot of its own colour on each keypoint (left eye red, right eye green...)."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    for (x, y), colour in zip(kps, KEYPOINT_COLOURS):
        cv2.circle(frame, (int(round(x * 16)), int(round(y * 16))), radius * 16, colour, -1, cv2.LINE_AA, 4)
    return frame


def _dot_centres(image: np.ndarray) -> np.ndarray:
    """Centroid of each keypoint colour in `image` (weighted by how close each pixel is to it)."""
    pixels = image.astype(np.float64)
    centres = []
    for colour in KEYPOINT_COLOURS:
        distance = np.linalg.norm(pixels - np.array(colour, np.float64), axis=2)
        weight = np.clip(1.0 - distance / 120.0, 0.0, None)
        assert weight.sum() > 3, f"the dot coloured {colour} is not in the crop at all"
        ys, xs = np.indices(weight.shape)
        centres.append(((xs * weight).sum() / weight.sum(), (ys * weight).sum() / weight.sum()))
    return np.array(centres)


@pytest.mark.parametrize("size", [112, 128])
@pytest.mark.parametrize("angle", [0.0, 25.0, -40.0])
def test_aligned_crop_puts_each_keypoint_on_its_template_point(size: int, angle: float) -> None:
    """A tilted face with a coloured dot on each keypoint: in the crop the engine makes, the left
    eye's dot sits on the template's left eye and so on; a mirrored or rotated crop swaps or moves them."""
    theta = np.deg2rad(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    kps = (arcface_dst.astype(np.float64) - 56.0) @ rotation.T * 2.4 + np.array([640.0, 360.0])
    frame = _dotted_frame(kps, radius=6)
    aligned = crop(frame, estimate_similarity(kps, arcface_template(size)), size)
    assert aligned.shape == (size, size, 3)
    np.testing.assert_allclose(_dot_centres(aligned), insightface_template(size), atol=1.0)


# ---- the engine, end to end --------------------------------------------------------------------

def _smooth_scene() -> tuple[np.ndarray, list[FaceTruth]]:
    """Two synthetic faces on a smooth, asymmetric background, blurred a little: detail a
    128-px crop can carry, so a faithful crop → paste round trip gives the frame back."""
    height, width = 480, 720
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.empty((height, width, 3), np.float32)
    scene[..., 0] = 150 + 60 * np.sin(xx / 37 + 0.3) * np.cos(yy / 29)
    scene[..., 1] = 120 + 50 * np.cos(xx / 23 - yy / 41)
    scene[..., 2] = 60 + 40 * np.sin(yy / 31 + xx / 53)  # red stays below blue: never skin
    frame = np.clip(scene, 0, 255).astype(np.uint8)
    truths = [draw_face(frame, (170, 220), 110, identity_by_name("amber")),
              draw_face(frame, (480, 250), 130, identity_by_name("olive"))]
    return cv2.GaussianBlur(frame, (0, 0), 1.5), truths


@pytest.fixture(scope="module")
def geometry_store(kit_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """The kit's detector and recognizer, plus the identity and coordinate swappers."""
    directory = tmp_path_factory.mktemp("geometry-models")
    kit = [spec for spec in load_catalog(kit_dir / MANIFEST_NAME) if spec.role in ("detector", "recognizer")]
    for spec in kit:
        shutil.copyfile(kit_dir / spec.file, directory / spec.file)
    swappers: GeometrySwappers = write_geometry_swappers(directory)
    return ModelStore(directory, kit + list(swappers.specs), source=kit_dir / MANIFEST_NAME)


def _engine(store: ModelStore, swapper_id: str) -> BuiltinEngine:
    engine = BuiltinEngine(store=store)
    engine.load(LoadOptions(swapper_id=swapper_id, warmup=False))
    return engine


def test_identity_swap_gives_the_frame_back_around_each_face(geometry_store: ModelStore) -> None:
    """output = input crop: crop, swap and paste back must leave every face as it was. A paste-back
    off by a few pixels, or a mirrored or rotated crop, drops the PSNR below 30 dB."""
    engine = _engine(geometry_store, "identity_swap")
    frame, truths = _smooth_scene()
    out = engine.process(frame, SwapContext(identities=[ANYONE], selection=FaceSelection.ALL, on_error="raise"))
    faces = engine.faces(frame)
    assert len(faces) == len(truths)
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        inside = psnr(out[y1:y2, x1:x2], frame[y1:y2, x1:x2])
        assert inside > 40.0, f"face at x={face.center_x:.0f}: PSNR {inside:.1f} dB inside its box"
    assert psnr(out, frame) > 45.0


def test_template_keypoints_are_pasted_onto_the_detected_keypoints(geometry_store: ModelStore) -> None:
    """The coordinate swapper paints each crop pixel with its own (x, y). After paste-back the pixel
    under each detected keypoint must come from insightface's 128-px template point: a paste-back
    shifted 5 px or a template without its 8-px shift moves them by several pixels."""
    engine = _engine(geometry_store, "coordinate_swap")
    frame, _ = _smooth_scene()
    out = engine.process(frame, SwapContext(identities=[ANYONE], selection=FaceSelection.ALL, on_error="raise"))
    faces = engine.faces(frame)
    assert len(faces) == 2
    template = insightface_template(128)
    for face in faces:
        # The crop's scale: 1 crop pixel is this many frame pixels, so the tolerance is ~1 frame px.
        scale = float(np.linalg.norm(face.kps[1] - face.kps[0]) / np.linalg.norm(template[1] - template[0]))
        for point, expected in zip(face.kps, template):
            pixel = cv2.getRectSubPix(out, (1, 1), (float(point[0]), float(point[1])))[0, 0]
            landed = decode_coordinates(pixel)
            error = float(np.linalg.norm(landed - expected)) * scale
            assert error < 1.2, f"template point {expected} landed {error:.1f} px from its keypoint {point}"


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # inside insightface 2.1
def test_insightface_itself_reads_the_coordinate_swapper_the_same_way(geometry_store: ModelStore) -> None:
    """The yardstick checked against insightface: its own INSwapper (norm_crop2 + its paste-back) runs
    the coordinate swapper, and the template points land on the keypoints there too."""
    from insightface.app.common import Face
    from insightface.model_zoo import get_model
    from insightface.model_zoo.inswapper import INSwapper

    swapper = get_model(str(geometry_store.path("coordinate_swap")), providers=["CPUExecutionProvider"])
    assert isinstance(swapper, INSwapper)  # insightface routes it by the inswapper contract
    frame, truths = _smooth_scene()
    source = Face(embedding=ANYONE.embedding)
    template = insightface_template(128)
    for truth in truths:
        kps = truth.kps_array()
        out = swapper.get(frame, Face(bbox=truth.box_array(), kps=kps, det_score=1.0), source, paste_back=True)
        for point, expected in zip(kps, template):
            pixel = cv2.getRectSubPix(out, (1, 1), (float(point[0]), float(point[1])))[0, 0]
            assert np.linalg.norm(decode_coordinates(pixel) - expected) < 1.0
