"""The kit's sample media exist with the properties tests rely on, and their ground truth is right."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engines.testing import samples as sm
from engines.testing import skin_rule
from engines.testing import synthetic_face as sf


@pytest.fixture(scope="module")
def truth(kit_dir: Path) -> sm.SampleSet:
    return sm.load_truth(kit_dir / "samples")


def test_images_have_the_promised_faces(kit_dir: Path, truth: sm.SampleSet) -> None:
    expected = {"source_a.png": [sm.SOURCE_A], "source_b.png": [sm.SOURCE_B], "target.png": [sm.TARGET],
                "target_two.png": list(sm.TARGET_TWO)}
    assert set(truth.images) == set(expected)
    for name, identities in expected.items():
        image = cv2.imread(str(kit_dir / "samples" / name))
        assert image is not None and (image.shape[1], image.shape[0]) == truth.images[name].size
        assert [f.identity for f in truth.images[name].faces] == identities
        for face in truth.images[name].faces:  # the truth describes pixels that really are that face
            cx, cy = (int(round(v)) for v in face.center)
            skin = sf.identity_by_name(face.identity).skin_bgr
            assert np.abs(image[cy - 5, cx - int(0.25 * face.height)].astype(int) - skin).max() <= 2
    assert truth.images["target.png"].size == (1280, 720)
    assert len({sm.SOURCE_A, sm.SOURCE_B, sm.TARGET, *sm.TARGET_TWO}) == 5  # all different people


def test_backgrounds_hold_no_skin(kit_dir: Path, truth: sm.SampleSet) -> None:
    """Outside the faces no pixel passes the skin rule, so detections can only be the faces."""
    for name, image_truth in truth.images.items():
        image = cv2.imread(str(kit_dir / "samples" / name))
        mask = skin_rule.hard_skin_mask(image)
        for face in image_truth.faces:
            x1, y1, x2, y2 = (int(v) for v in face.box)
            mask[max(0, y1 - 2):y2 + 3, max(0, x1 - 2):x2 + 3] = False
        assert not mask.any(), name


def test_video_is_3s_720p30_h264_with_aac_audio(kit_dir: Path, truth: sm.SampleSet) -> None:
    assert truth.video is not None and truth.video.frame_count == 90 and len(truth.video.frames) == 90
    with av.open(str(kit_dir / "samples" / "target.mp4")) as container:
        (video,) = container.streams.video
        (audio,) = container.streams.audio
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert video.average_rate == 30
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate in (44100, 48000)
        frames = [f for f in container.decode(video=0)]
    assert abs(len(frames) - 90) <= 1


def test_video_face_moves_across_the_frame(truth: sm.SampleSet) -> None:
    assert truth.video is not None
    xs = [faces[0].center[0] for faces in truth.video.frames]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 600
    assert all(f[0].identity == sm.VIDEO_FACE for f in truth.video.frames)
