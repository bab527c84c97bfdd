"""The lip-sync stage of the built-in engine on the kit: the mouth opens with speech and stays shut
in silence, only the mouth region is written, the weight scales it, and swap + lip sync run in one
pass on the same detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from engines.base import FRAMES_WITHOUT_FACE, Capability, HealthState, LipSyncFrame, LoadOptions, SwapContext
from engines.builtin.detect.faces import DetectedFace
from engines.builtin.engine import BuiltinEngine
from engines.builtin.lipsync.lip_syncer import LipSyncer
from engines.builtin.lipsync.mel import mel_spectrogram, mel_window
from engines.errors import ModelError
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
    with pytest.raises(ModelError, match="loaded without the recognizer"):
        engine.identity([kit_dir / "samples" / "source_a.png"])


def _kit_lip_syncer(kit_dir: Path) -> LipSyncer:
    model = ModelStore.from_manifest(kit_dir).open_verified("wav2lip_gan_96")
    session = ort.InferenceSession(model.source, providers=["CPUExecutionProvider"])
    return LipSyncer(model.path, session)


def test_mouth_box_smoothing_steadies_a_jittery_detection(kit_dir: Path, target) -> None:
    frame, truth = target
    syncer = _kit_lip_syncer(kit_dir)
    rng = np.random.default_rng(5)
    jitter = [rng.uniform(-4.0, 4.0, size=2) for _ in range(16)]  # the detector's frame-to-frame noise

    def mouth_centres(state: dict | None) -> np.ndarray:
        centres = []
        for shift in jitter:
            face = DetectedFace(truth.box_array() + np.tile(shift, 2), truth.kps_array() + shift, 0.9)
            out = syncer.sync(frame, [face], mel_window(MEL, VOICED), 1.0, state)
            ys, xs = np.nonzero(changed(frame, out))
            centres.append((xs.mean(), ys.mean()))
        return np.asarray(centres)[4:]  # after the filter has settled

    raw, steady = mouth_centres(None), mouth_centres({})
    assert np.linalg.norm(steady.std(axis=0)) < 0.5 * np.linalg.norm(raw.std(axis=0))
    assert np.linalg.norm(raw.std(axis=0)) > 1.0  # the jitter really shows without smoothing


def test_a_model_without_the_wav2lip_inputs_is_refused_by_name(kit_dir: Path) -> None:
    model = ModelStore.from_manifest(kit_dir).open_verified("gfpgan_1.4")
    session = ort.InferenceSession(model.source, providers=["CPUExecutionProvider"])
    with pytest.raises(ValueError, match=r"expected a Wav2Lip model \(inputs mel \[1,1,80,16\]"):
        LipSyncer(model.path, session)


def test_sample_video_mouth_follows_the_bursts_frame_by_frame(engine: BuiltinEngine, kit_dir: Path) -> None:
    import av

    with av.open(str(kit_dir / "samples" / "target.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    fps = 30.0
    audio = speech_like(len(frames) / fps, [(0.8, 1.8)])
    mel = mel_spectrogram(audio)
    context = SwapContext(swap_faces=False, smoothing=True)
    outs: list[np.ndarray] = []
    for start in range(0, len(frames), 8):  # batches, as the offline pipeline sends them
        batch = frames[start:start + 8]
        context.lip_sync_batch = [LipSyncFrame(mel_window(mel, (start + i) / fps)) for i in range(len(batch))]
        outs.extend(engine.process_batch(batch, context))
    moved = [bool(changed(f, o).any()) for f, o in zip(frames, outs)]
    voiced = [i for i in range(len(frames)) if 0.95 <= i / fps <= 1.65]
    silent = [i for i in range(len(frames)) if i / fps <= 0.6 or i / fps >= 2.0]
    assert all(moved[i] for i in voiced)
    assert not any(moved[i] for i in silent)
    assert context.stream_state.get(FRAMES_WITHOUT_FACE, 0) == 0


def test_memory_plan_of_a_lip_sync_only_load_matches_what_it_loads(kit_dir: Path) -> None:
    from engines.allocator import ResourceAllocator

    store = ModelStore.from_manifest(kit_dir)
    options = LoadOptions(load_swapper=False, load_lip_syncer=True, providers=("cpu",))
    plan = ResourceAllocator().plan(store, options)
    engine = BuiltinEngine(store=store)
    engine.load(options)
    assert [(f.role, f.model_id) for f in plan] == [(m.role, m.model_id) for m in engine.health().models]
    assert [f.role for f in plan] == ["detector", "lip_syncer"]


def test_a_missing_lip_sync_model_shows_on_its_health_row_and_frames_pass(kit_dir: Path, tmp_path: Path,
                                                                         target) -> None:
    import shutil

    folder = tmp_path / "kit"
    shutil.copytree(kit_dir, folder, ignore=shutil.ignore_patterns("samples", "kit_wav2lip_gan_96.onnx"))
    engine = BuiltinEngine(store=ModelStore.from_manifest(folder))
    engine.load(LoadOptions())
    frame, _ = target
    out = engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED)))  # live: pass through
    np.testing.assert_array_equal(out, frame)
    health = engine.health()
    row = {m.role: m for m in health.models}["lip_syncer"]
    assert row.model_id == "wav2lip_gan_96" and not row.loaded and not row.healthy
    assert "kit_wav2lip_gan_96.onnx is missing" in (row.note or "")
    assert health.state is HealthState.DEGRADED
    with pytest.raises(ModelError, match="kit_wav2lip_gan_96.onnx is missing"):  # an offline job hears why
        engine.process(frame, SwapContext(swap_faces=False, lip_sync=lip(VOICED), on_error="raise"))
