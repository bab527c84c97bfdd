"""The built-in engine on the generated models: the right pixels change, the rest do not,
and the stream survives model failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.base import FaceMapping, FaceSelection, HealthState, LoadOptions, SwapContext
from engines.builtin.engine import BuiltinEngine
from engines.builtin.swap.swapper import SwapOutputError
from engines.errors import InputError
from engines.imaging import read_image, write_image_atomic
from engines.models.store import ModelStore
from engines.testing.samples import load_truth
from engines.testing.synthetic_face import draw_face, identity_by_name, plain_background


@pytest.fixture(scope="module")
def engine(kit_dir: Path) -> BuiltinEngine:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions())
    return engine


@pytest.fixture(scope="module")
def samples(kit_dir: Path):
    return load_truth(kit_dir / "samples")


def _skin_colour(engine: BuiltinEngine, frame: np.ndarray, face_index: int = 0) -> np.ndarray:
    """Mean BGR of the cheeks of the face the detector finds (left to right)."""
    faces = sorted(engine.faces(frame), key=lambda f: f.center_x)
    kps = faces[face_index].kps
    cheeks = [(kps[0] + kps[3]) / 2, (kps[1] + kps[4]) / 2]
    patches = [frame[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4].reshape(-1, 3) for x, y in cheeks]
    return np.concatenate(patches).mean(axis=0)


def _portrait(tmp_path: Path, name: str) -> Path:
    """A photo of one synthetic person, as a user would pick for a reference face."""
    image = plain_background(480, 480)
    draw_face(image, (240, 240), 260, identity_by_name(name))
    path = tmp_path / f"{name}.png"
    write_image_atomic(path, image)
    return path


def _people_left_to_right(samples, image: str) -> list[str]:
    return [f.identity for f in sorted(samples.images[image].faces, key=lambda f: f.center[0])]


def _cos_to(engine: BuiltinEngine, frame: np.ndarray, identity) -> float:
    face = max(engine.faces(frame), key=lambda f: f.area)
    embedding = engine._recognizer.embed(frame, [face.kps])[0]  # the engine's own recognizer
    return float(np.dot(embedding, identity.embedding))


def test_swapped_face_carries_the_source_identity(engine, kit_dir, samples) -> None:
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    out = engine.process(target, SwapContext(identities=[source]))
    # The output face is recognised as the source, and no longer as the target person.
    target_identity = engine.identity([kit_dir / "samples" / "target.png"])
    assert _cos_to(engine, out, source) > 0.8
    assert _cos_to(engine, out, target_identity) < 0.5
    # Its skin took the source's colour.
    coral = np.array(identity_by_name(samples.images["source_a.png"].faces[0].identity).skin_bgr, float)
    assert np.abs(_skin_colour(engine, out) - coral).max() < 25


def test_background_outside_the_face_is_unchanged(engine, kit_dir, samples) -> None:
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    out = engine.process(target, SwapContext(identities=[source]))
    x1, y1, x2, y2 = samples.images["target.png"].faces[0].box
    w, h = x2 - x1, y2 - y1
    outside = np.ones(target.shape[:2], bool)
    outside[max(0, int(y1 - 0.35 * h)):int(y2 + 0.35 * h), max(0, int(x1 - 0.35 * w)):int(x2 + 0.35 * w)] = False
    assert np.abs(out[outside].astype(int) - target[outside].astype(int)).max() <= 1
    assert np.abs(out[~outside].astype(int) - target[~outside].astype(int)).max() > 50
    # The caller's frame was not written into.
    assert np.array_equal(target, read_image(kit_dir / "samples" / "target.png"))


def test_all_mode_swaps_both_faces_and_reference_mode_only_the_chosen_one(engine, kit_dir, samples,
                                                                          tmp_path) -> None:
    source = engine.identity([kit_dir / "samples" / "source_b.png"])
    target = read_image(kit_dir / "samples" / "target_two.png")
    before = [_skin_colour(engine, target, i) for i in range(2)]
    out = engine.process(target, SwapContext(identities=[source], selection=FaceSelection.ALL))
    after = [_skin_colour(engine, out, i) for i in range(2)]
    assert all(np.abs(a - b).max() > 30 for a, b in zip(after, before))

    # Reference: another photo of the right-hand person only.
    right_person = _people_left_to_right(samples, "target_two.png")[1]
    reference = engine.identity([_portrait(tmp_path, right_person)])
    ctx = SwapContext(identities=[source], selection=FaceSelection.REFERENCE, references=[reference])
    out = engine.process(target, ctx)
    assert np.abs(_skin_colour(engine, out, 0) - before[0]).max() <= 2  # left face untouched
    assert np.abs(_skin_colour(engine, out, 1) - before[1]).max() > 30  # right face swapped


def test_mapping_sends_each_person_to_their_own_source(engine, kit_dir, samples, tmp_path) -> None:
    a = engine.identity([kit_dir / "samples" / "source_a.png"])
    b = engine.identity([kit_dir / "samples" / "source_b.png"])
    target = read_image(kit_dir / "samples" / "target_two.png")
    refs = [engine.identity([_portrait(tmp_path, name)]) for name in _people_left_to_right(samples, "target_two.png")]
    ctx = SwapContext(selection=FaceSelection.MAPPING, mappings=[FaceMapping(refs[0], b), FaceMapping(refs[1], a)])
    out = engine.process(target, ctx)
    faces = sorted(engine.faces(out), key=lambda f: f.center_x)
    got = engine._recognizer.embed(out, [f.kps for f in faces])
    assert float(got[0] @ b.embedding) > 0.8 and float(got[1] @ a.embedding) > 0.8


def test_frame_without_a_face_passes_through_unchanged(engine, kit_dir) -> None:
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    empty = plain_background(640, 480)
    out = engine.process(empty, SwapContext(identities=[source]))
    assert np.array_equal(out, empty)


def test_source_switch_takes_effect_without_reloading(engine, kit_dir) -> None:
    a = engine.identity([kit_dir / "samples" / "source_a.png"])
    b = engine.identity([kit_dir / "samples" / "source_b.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    sessions = (engine._detector, engine._recognizer, engine._swapper)
    ctx = SwapContext(identities=[a, b])
    with_a = engine.process(target, ctx)
    ctx.active = 1
    with_b = engine.process(target, ctx)
    assert _cos_to(engine, with_a, a) > 0.8 and _cos_to(engine, with_b, b) > 0.8
    assert (engine._detector, engine._recognizer, engine._swapper) == sessions
    ctx.bypass = True
    assert np.array_equal(engine.process(target, ctx), target)


def test_model_failure_degrades_then_recovers(kit_dir, monkeypatch) -> None:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions())
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    ctx = SwapContext(identities=[source])
    real_run = engine._swapper._run

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(engine._swapper, "_run", broken)
    out = engine.process(target, ctx)
    assert np.array_equal(out, target)  # passed through, no exception
    health = engine.health()
    assert health.state == HealthState.DEGRADED
    assert "illegal memory access" in (health.last_error or "")
    monkeypatch.setattr(engine._swapper, "_run", real_run)
    for _ in range(engine._health.recover_after):
        out = engine.process(target, ctx)
    assert engine.health().state == HealthState.OK
    assert not np.array_equal(out, target)


def test_junk_fp16_output_falls_back_to_fp32(kit_dir, monkeypatch) -> None:
    engine = BuiltinEngine(store=ModelStore.from_manifest(kit_dir))
    engine.load(LoadOptions(swapper_precision="fp16"))
    assert engine._swapper_model_id == "inswapper_128_fp16"

    def black_box(*args, **kwargs):
        raise SwapOutputError("swap model output is a constant image")

    monkeypatch.setattr(engine._swapper, "_run", black_box)
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    out = engine.process(target, SwapContext(identities=[source]))
    assert _cos_to(engine, out, source) > 0.8  # swapped by the fp32 model, not junk
    swapper = next(m for m in engine.health().models if m.role == "swapper")
    assert swapper.model_id == "inswapper_128" and "switched to inswapper_128" in (swapper.note or "")


def test_enhancer_and_mouth_mask_change_what_they_should(engine, kit_dir) -> None:
    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    target = read_image(kit_dir / "samples" / "target.png")
    plain = engine.process(target, SwapContext(identities=[source]))
    enhanced = engine.process(target, SwapContext(identities=[source], enhance=True, enhance_blend=1.0))
    assert np.abs(enhanced.astype(int) - plain.astype(int)).max() > 10
    assert any(m.role == "enhancer" for m in engine.health().models)

    face = engine.faces(target)[0]
    mouth = ((face.kps[3] + face.kps[4]) / 2).astype(int)
    kept = engine.process(target, SwapContext(identities=[source], mouth_mask=True))
    patch = (slice(mouth[1] - 2, mouth[1] + 3), slice(mouth[0] - 2, mouth[0] + 3))
    assert np.abs(kept[patch].astype(int) - target[patch].astype(int)).max() <= 3


def test_batch_equals_one_by_one(engine, kit_dir) -> None:
    source = engine.identity([kit_dir / "samples" / "source_b.png"])
    frames = [read_image(kit_dir / "samples" / n) for n in ("target.png", "target_two.png", "source_a.png")]
    ctx = SwapContext(identities=[source], selection=FaceSelection.ALL)
    batch = engine.process_batch(frames, ctx)
    single = [engine.process(f, ctx) for f in frames]
    for b, s in zip(batch, single):
        assert np.abs(b.astype(int) - s.astype(int)).max() <= 1


def test_health_names_the_provider_of_each_model(engine) -> None:
    health = engine.health()
    assert {m.role for m in health.models} >= {"detector", "recognizer", "swapper"}
    assert all(m.provider == "CPUExecutionProvider" for m in health.models)
    assert set(health.stages_ms) >= {"detect", "align", "swap", "paste"}


def test_source_problems_are_one_line_errors(engine, kit_dir, tmp_path) -> None:
    empty = tmp_path / "nobody.png"
    write_image_atomic(empty, plain_background(320, 240))
    with pytest.raises(InputError, match="no face found in .*nobody.png"):
        engine.identity([empty])
    with pytest.raises(InputError, match="is a video"):
        engine.identity([kit_dir / "samples" / "target.mp4"])
    with pytest.raises(InputError, match="not found"):
        engine.identity([tmp_path / "missing.png"])
    # Several faces: the largest is used, and the count is reported.
    group = plain_background(900, 500)
    draw_face(group, (200, 250), 150, identity_by_name("lime"))
    draw_face(group, (600, 250), 300, identity_by_name("plum"))
    path = tmp_path / "group.png"
    write_image_atomic(path, group)
    identity = engine.identity([path])
    assert identity.faces_in_sources == (2,)
    plum_only = tmp_path / "plum.png"
    solo = plain_background(600, 500)
    draw_face(solo, (300, 250), 300, identity_by_name("plum"))
    write_image_atomic(plum_only, solo)
    assert float(identity.embedding @ engine.identity([plum_only]).embedding) > 0.95


def test_several_photos_average_into_one_identity(engine, kit_dir) -> None:
    a = engine.identity([kit_dir / "samples" / "source_a.png"])
    twice = engine.identity([kit_dir / "samples" / "source_a.png"] * 2)
    assert float(a.embedding @ twice.embedding) > 0.999
    assert twice.sources == (str(kit_dir / "samples" / "source_a.png"),) * 2


def test_smoothing_on_a_moving_face_still_swaps(engine, kit_dir) -> None:
    import av

    source = engine.identity([kit_dir / "samples" / "source_a.png"])
    ctx = SwapContext(identities=[source], smoothing=True)
    with av.open(str(kit_dir / "samples" / "target.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            ctx.timestamp = i / 30
            out = engine.process(image, ctx)
            if i >= 10:
                break
    assert _cos_to(engine, out, source) > 0.8
    assert "smoother" in ctx.stream_state
