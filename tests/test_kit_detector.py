"""The kit detector finds the synthetic faces through insightface's own SCRFD code, accurately.

Engine tests assert that the right pixels changed; that needs a detector whose boxes and keypoints
are right (within a few px), that moves with the face, finds several faces, works across sizes and
stays silent on clutter.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from insightface.model_zoo import get_model
from insightface.model_zoo.scrfd import SCRFD

from engines.testing import synthetic_face as sf
from engines.testing.insight import CPU, kit_model_path
from engines.testing.samples import load_truth

TOLERANCE_PX = 4.0


@pytest.fixture(scope="module")
def detector(kit_dir: Path) -> SCRFD:
    det = get_model(str(kit_model_path(kit_dir, "det_10g")), providers=CPU)
    det.prepare(ctx_id=-1, input_size=(640, 640))
    return det


def detect(detector: SCRFD, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boxes, kps = detector.detect(image, max_num=0)
    order = np.argsort(boxes[:, 0])  # left to right, to pair with truth
    return boxes[order], kps[order]


def assert_matches(boxes: np.ndarray, kps: np.ndarray, truths: list[sf.FaceTruth] | tuple[sf.FaceTruth, ...],
                   tolerance: float = TOLERANCE_PX) -> None:
    truths = sorted(truths, key=lambda t: t.box[0])
    assert len(boxes) == len(truths), f"found {len(boxes)} faces, drew {len(truths)}"
    for box, points, truth in zip(boxes, kps, truths):
        assert box[4] > 0.5
        assert np.abs(box[:4] - truth.box_array()).max() <= tolerance, (box, truth.box)
        assert np.abs(points - truth.kps_array()).max() <= tolerance, (points, truth.kps)


def test_finds_the_face_in_target_png(kit_dir: Path, detector: SCRFD) -> None:
    truth = load_truth(kit_dir / "samples").images["target.png"]
    image = cv2.imread(str(kit_dir / "samples" / "target.png"))
    assert_matches(*detect(detector, image), truth.faces)


def test_finds_both_faces_in_target_two_png(kit_dir: Path, detector: SCRFD) -> None:
    truth = load_truth(kit_dir / "samples").images["target_two.png"]
    image = cv2.imread(str(kit_dir / "samples" / "target_two.png"))
    assert_matches(*detect(detector, image), truth.faces)


def test_finds_the_sources(kit_dir: Path, detector: SCRFD) -> None:
    truths = load_truth(kit_dir / "samples").images
    for name in ("source_a.png", "source_b.png"):
        assert_matches(*detect(detector, cv2.imread(str(kit_dir / "samples" / name))), truths[name].faces)


def test_moves_with_the_face(detector: SCRFD) -> None:
    """Detection is recomputed from the frame, so the box follows the face."""
    centres = []
    for centre in ((200.0, 250.0), (430.0, 380.0)):
        image = sf.busy_background(640, 640, seed=4)
        truth = sf.draw_face(image, centre, 150.0, sf.identity_by_name("peach"))
        boxes, kps = detect(detector, image)
        assert_matches(boxes, kps, [truth])
        centres.append(((boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2))
    assert centres[1][0] - centres[0][0] == pytest.approx(230.0, abs=2.0)
    assert centres[1][1] - centres[0][1] == pytest.approx(130.0, abs=2.0)


@pytest.mark.parametrize("height", [40.0, 63.0, 90.0, 128.0, 200.0, 300.0, 400.0])
def test_every_scale_from_40_to_400_px(detector: SCRFD, height: float) -> None:
    """Each stride and anchor covers a band of face heights; together 20..520 px at 640x640."""
    image = sf.busy_background(640, 640, seed=int(height))
    truth = sf.draw_face(image, (317.3, 331.6), height, sf.IDENTITIES[int(height) % len(sf.IDENTITIES)])
    assert_matches(*detect(detector, image), [truth])


@pytest.mark.parametrize("height", [24.0, 119.0, 121.0, 247.0, 249.0, 450.0])
def test_both_ends_of_the_size_range_and_each_side_of_a_stride_change(detector: SCRFD, height: float) -> None:
    """The smallest and tallest faces the app's tests draw, and faces just below and above the heights
    where the reporting stride changes (120 and 248 px)."""
    from engines.testing import detector_model

    assert detector_model.window_fits(detector_model.CELL * 2 ** (detector_model.LEVELS - 1),
                                      detector_model.RADII[-1]) >= detector_model.ANCHOR_SPECS[-1].max_height
    image = sf.busy_background(640, 640, seed=int(height) + 1)
    truth = sf.draw_face(image, (321.7, 318.4), height, sf.IDENTITIES[int(height) % len(sf.IDENTITIES)])
    assert_matches(*detect(detector, image), [truth])


def test_several_faces_in_one_frame(detector: SCRFD) -> None:
    image = sf.busy_background(1280, 720, seed=5)
    truths = [sf.draw_face(image, (200.0, 200.0), 160.0, sf.IDENTITIES[0]),
              sf.draw_face(image, (640.0, 420.0), 300.0, sf.IDENTITIES[1]),
              sf.draw_face(image, (1080.0, 250.0), 200.0, sf.IDENTITIES[2]),
              sf.draw_face(image, (220.0, 600.0), 110.0, sf.IDENTITIES[3])]
    assert_matches(*detect(detector, image), truths, tolerance=2 * TOLERANCE_PX)  # 0.5x scale doubles error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nothing_on_a_busy_background(detector: SCRFD, seed: int) -> None:
    boxes, _ = detect(detector, sf.busy_background(1280, 720, seed=seed))
    assert len(boxes) == 0


def test_every_palette_skin_is_detected_so_swapped_faces_are_too(detector: SCRFD) -> None:
    """A swap recolours the skin to another palette colour; tests re-detect swapped outputs."""
    for identity in sf.IDENTITIES:
        image = sf.plain_background(480, 480)
        truth = sf.draw_face(image, (240.0, 250.0), 220.0, identity)
        assert_matches(*detect(detector, image), [truth])


def test_first_video_frame_survives_h264(kit_dir: Path, detector: SCRFD) -> None:
    """Compression and 4:2:0 chroma must not break detection of the sample video."""
    import av

    truth = load_truth(kit_dir / "samples").video
    assert truth is not None
    with av.open(str(kit_dir / "samples" / "target.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert_matches(*detect(detector, frame), truth.frames[0], tolerance=2 * TOLERANCE_PX)


def test_several_det_sizes_merge_to_the_precise_detection(kit_dir: Path) -> None:
    """insightface may run det sizes (128,128) and (640,640) and merge by NMS; the bigger face view
    scores higher, so the more precise box survives."""
    det = get_model(str(kit_model_path(kit_dir, "det_10g")), providers=CPU)
    image = sf.busy_background(1280, 720, seed=8)
    truth = sf.draw_face(image, (600.0, 380.0), 320.0, sf.IDENTITIES[4])
    det.prepare(ctx_id=-1, input_size=(128, 128))
    coarse, _ = det.detect(image, max_num=0)
    det.prepare(ctx_id=-1, input_size=[(128, 128), (640, 640)])
    boxes, kps = det.detect(image, max_num=0)
    assert len(coarse) == 1 and 0.5 < coarse[0, 4] < boxes[0, 4] <= 1.0
    assert_matches(boxes, kps, [truth], tolerance=2 * TOLERANCE_PX)


def test_a_640_pass_is_cheap(kit_dir: Path) -> None:
    """Engine tests run the detector per frame; it must cost milliseconds, not the real model's 100s."""
    import time

    import onnxruntime as ort

    session = ort.InferenceSession(str(kit_model_path(kit_dir, "det_10g")), providers=CPU)
    blob = np.zeros((1, 3, 640, 640), np.float32)
    session.run(None, {"input.1": blob})
    times = []
    for _ in range(10):
        start = time.perf_counter()
        session.run(None, {"input.1": blob})
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.05
