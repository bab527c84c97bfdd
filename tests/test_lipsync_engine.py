"""The lip-sync stage of the built-in engine on the kit: the mouth opens with speech and stays shut
in silence, only the mouth region is written, the weight scales it, and swap + lip sync run in one
pass on the same detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engines.base import (
    FRAMES_WITHOUT_FACE, Capability, LipSyncFrame, LoadOptions, SwapContext,
)
from engines.builtin.engine import BuiltinEngine
from engines.builtin.lipsync.mel import mel_spectrogram, mel_window
from engines.imaging import read_image
from engines.models.store import ModelStore
from engines.testing.lipsync_model import MAX_OPEN, build_lip_syncer, opening
from engines.testing.samples import load_truth
from engines.testing.speech import speech_like

VOICED, SILENT = 1.0, 0.25  # seconds: the middle of a burst, the middle of a silence
AUDIO = speech_like(2.0, [(0.6, 1.6)])
MEL = mel_spectrogram(AUDIO)


def lip(t: float, weight: float = 1.0) -> LipSyncFrame:
    return LipSyncFrame(mel_window(MEL, t), weight)


@pytest.fixture(scope="module")
def engine(kit_dir: Path) -> BuiltinEngine:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions(load_lip_syncer=True))
    return engine


@pytest.fixture(scope="module")
def target(kit_dir: Path) -> tuple[np.ndarray, object]:
    truth = load_truth(kit_dir / "samples").images["target.png"].faces[0]
    return read_image(kit_dir / "samples" / "target.png"), truth


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2) > 0


def mouth_area(truth) -> tuple[slice, slice]:
    """Rows and columns of the lower face around the mouth (from the nose down to just below the
    chin, a little wider than the mouth), from the drawn face's truth: the eyes lie outside it."""
    kps, height = truth.kps_array(), truth.height
    left, right = kps[3], kps[4]
    width = right[0] - left[0]
    assert kps[2][1] - 0.05 * height > kps[0][1] + 0.1 * height  # the eyes are well above
    return (slice(int(kps[2][1] - 0.05 * height), int(truth.box[3] + 0.08 * height)),
            slice(int(left[0] - 0.6 * width), int(right[0] + 0.6 * width) + 1))


def test_kit_model_has_the_wav2lip_contract_and_opens_with_loudness() -> None:
    session = ort.InferenceSession(build_lip_syncer().SerializeToString(), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes == {"source": [1, 1, 80, 16], "target": [1, 6, 96, 96]}
    face = np.random.default_rng(0).random((1, 6, 96, 96), dtype=np.float32)
    silent = session.run(None, {"source": mel_window(MEL, SILENT)[None, None], "target": face})[0]
    assert silent.shape == (1, 3, 96, 96)
    np.testing.assert_array_equal(silent, face[:, 3:])  # the whole crop back, untouched
    assert opening(mel_window(MEL, SILENT)) == 0.0 and opening(mel_window(MEL, VOICED)) == MAX_OPEN
    half = mel_window(MEL, VOICED) * 0.5 - 2.0  # halfway to silence
    areas = [np.count_nonzero(session.run(None, {"source": m[None, None], "target": face})[0] != face[:, 3:])
             for m in (half, mel_window(MEL, VOICED))]
    assert 0 < areas[0] < areas[1]  # louder → wider open


def test_voiced_window_opens_the_mouth_and_touches_nothing_else(engine: BuiltinEngine, target) -> None:
    frame, truth = target
    before = frame.copy()
    out = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED)))
    np.testing.assert_array_equal(frame, before)  # the caller's frame is not written
    moved = changed(frame, out)
    rows, cols = mouth_area(truth)
    assert moved[rows, cols].sum() > 500  # a visible opening
    outside = moved.copy()
    outside[rows, cols] = False
    assert not outside.any()  # not one pixel outside the mouth region
    mouth_y = int(truth.kps_array()[3:, 1].mean())
    mouth_x = int(truth.kps_array()[3:, 0].mean())
    assert out[mouth_y, mouth_x].mean() < frame[mouth_y, mouth_x].mean() - 20  # dark: open


def test_silent_window_leaves_the_frame_unchanged(engine: BuiltinEngine, target) -> None:
    frame, _ = target
    out = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(SILENT)))
    np.testing.assert_array_equal(out, frame)


def test_weight_scales_the_blend_and_zero_leaves_the_frame(engine: BuiltinEngine, target) -> None:
    frame, truth = target
    full = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED, 1.0)))
    half = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED, 0.5)))
    none = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED, 0.0)))
    np.testing.assert_array_equal(none, frame)
    rows, cols = mouth_area(truth)
    delta = [np.abs(x[rows, cols].astype(np.int16) - frame[rows, cols]).sum() for x in (half, full)]
    assert 0.3 * delta[1] < delta[0] < 0.7 * delta[1]


def test_swap_and_lip_sync_in_one_call_on_the_same_detections(engine: BuiltinEngine, kit_dir: Path,
                                                              target) -> None:
    frame, truth = target
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    swapped = engine.process(frame, SwapContext(identities=[source]))
    both = engine.process(frame, SwapContext(identities=[source], lip_sync=lip(VOICED)))
    rows, cols = mouth_area(truth)
    outside = ~np.zeros(frame.shape[:2], bool)
    outside[rows, cols] = False
    np.testing.assert_array_equal(both[outside], swapped[outside])  # the swap, as without lip sync
    assert changed(swapped, both)[rows, cols].sum() > 500  # plus the open mouth
    assert changed(frame, swapped)[outside].sum() > 5000  # the face really was swapped


def test_batch_takes_one_mel_window_per_frame(engine: BuiltinEngine, target) -> None:
    frame, _ = target
    times = [SILENT, VOICED, 1.9, 1.2]
    context = SwapContext(swap_faces=False, lip_sync_batch=[lip(t) for t in times])
    outs = engine.process_batch([frame] * 4, context)
    assert [bool(changed(frame, out).any()) for out in outs] == [False, True, False, True]
    assert context.stream_state.get(FRAMES_WITHOUT_FACE, 0) == 0


def test_lip_sync_only_needs_no_recognizer_or_swapper(kit_dir: Path, target) -> None:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions(load_swapper=False))
    assert Capability.LIP_SYNC in engine.capabilities
    frame, _ = target
    out = engine.process(frame, SwapContext(lip_sync=lip(VOICED)))  # loads the lip syncer on first use
    assert changed(frame, out).sum() > 500
    roles = {m.role: m for m in engine.health().models}
    assert set(roles) == {"detector", "lip_syncer"}
    assert roles["lip_syncer"].model_id == "wav2lip_gan_96" and roles["lip_syncer"].loaded
    assert "lip_sync" in engine.health().stages_ms
    nothing = engine.process(frame, SwapContext())  # no swapper, no lip sync: the frame as it was
    np.testing.assert_array_equal(nothing, frame)
