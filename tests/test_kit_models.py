"""The generated kit honours the real models' contracts, so the app's real loading path works on it.

insightface routes a model to its class purely by shapes; if the kit's files did not route to
SCRFD / ArcFaceONNX / INSwapper, every engine test built on them would test nothing real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from insightface.model_zoo import get_model
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.inswapper import INSwapper
from insightface.model_zoo.scrfd import SCRFD
from onnx import numpy_helper

from engines.testing.enhancer_model import enhance_reference
from engines.testing.graph_helpers import IR_VERSION, OPSET
from engines.testing.manifest import KIT_LICENSE, Manifest, sha256_file

CPU = ["CPUExecutionProvider"]
EXPECTED = {
    "det_10g": ("detector", True),
    "w600k_r50": ("recognizer", True),
    "inswapper_128": ("swapper", True),
    "inswapper_128_fp16": ("swapper", False),
    "gfpgan_1.4": ("enhancer", True),
    "wav2lip_gan_96": ("lip_syncer", True),
}


@pytest.fixture(scope="module")
def manifest(kit_dir: Path) -> Manifest:
    return Manifest.load(kit_dir / "manifest.json")


def model_path(kit_dir: Path, manifest: Manifest, model_id: str) -> Path:
    return kit_dir / manifest.by_id(model_id).file


def test_manifest_lists_the_catalog_ids_with_true_hashes(kit_dir: Path, manifest: Manifest) -> None:
    """The app swaps its catalog for the kit by id, and verifies files by hash and size."""
    assert manifest.format == 1 and manifest.generated
    assert {m.id: (m.role, m.default) for m in manifest.models} == EXPECTED
    for entry in manifest.models:
        path = kit_dir / entry.file
        assert entry.sha256 == sha256_file(path)
        assert entry.size == path.stat().st_size
        assert entry.urls == () and entry.license == KIT_LICENSE
        assert entry.contract["inputs"] and entry.contract["outputs"] and entry.description


def test_models_use_opset_17_and_ir_8(kit_dir: Path, manifest: Manifest) -> None:
    """Older onnxruntime builds (GPU ones lag behind) must still load the kit."""
    for entry in manifest.models:
        model = onnx.load(str(kit_dir / entry.file))
        onnx.checker.check_model(model)
        assert model.ir_version == IR_VERSION
        assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]


@pytest.mark.parametrize("model_id,cls", [("det_10g", SCRFD), ("w600k_r50", ArcFaceONNX),
                                          ("inswapper_128", INSwapper), ("inswapper_128_fp16", INSwapper)])
def test_insightface_routes_each_model_to_its_class(kit_dir: Path, manifest: Manifest, model_id: str,
                                                    cls: type) -> None:
    model = get_model(str(model_path(kit_dir, manifest, model_id)), providers=CPU)
    assert isinstance(model, cls)


def test_recognizer_normalisation_is_the_arcface_one(kit_dir: Path, manifest: Manifest) -> None:
    """ArcFaceONNX switches to mxnet normalisation if the first nodes are named Sub*/Mul*."""
    rec = get_model(str(model_path(kit_dir, manifest, "w600k_r50")), providers=CPU)
    assert (rec.input_mean, rec.input_std, rec.input_size) == (127.5, 127.5, (112, 112))


@pytest.mark.parametrize("model_id", ["inswapper_128", "inswapper_128_fp16"])
def test_emap_is_the_last_initializer_and_orthogonal(kit_dir: Path, manifest: Manifest, model_id: str) -> None:
    """insightface reads graph.initializer[-1] as emap; the kit's is orthogonal so the graph can invert it."""
    model = onnx.load(str(model_path(kit_dir, manifest, model_id)))
    last = model.graph.initializer[-1]
    emap = numpy_helper.to_array(last)
    assert last.name == "emap" and emap.shape == (512, 512) and emap.dtype == np.float32
    np.testing.assert_allclose(emap @ emap.T, np.eye(512), atol=1e-4)
    swapper = get_model(str(model_path(kit_dir, manifest, model_id)), providers=CPU)
    np.testing.assert_array_equal(swapper.emap, emap)


def test_io_shapes_and_dynamic_batches(kit_dir: Path, manifest: Manifest) -> None:
    """Recognizer, swapper and enhancer take a batch (the app batches faces); detector H, W are free."""
    det = ort.InferenceSession(str(model_path(kit_dir, manifest, "det_10g")), providers=CPU)
    outs = det.run(None, {"input.1": np.zeros((1, 3, 480, 640), np.float32)})
    n = {s: (480 // s) * (640 // s) * 2 for s in (8, 16, 32)}
    assert [o.shape for o in outs] == [(n[8], 1), (n[16], 1), (n[32], 1), (n[8], 4), (n[16], 4), (n[32], 4),
                                       (n[8], 10), (n[16], 10), (n[32], 10)]
    rec = ort.InferenceSession(str(model_path(kit_dir, manifest, "w600k_r50")), providers=CPU)
    emb = rec.run(None, {rec.get_inputs()[0].name: np.zeros((3, 3, 112, 112), np.float32)})[0]
    assert emb.shape == (3, 512)
    for model_id in ("inswapper_128", "inswapper_128_fp16"):
        sw = ort.InferenceSession(str(model_path(kit_dir, manifest, model_id)), providers=CPU)
        assert [i.type for i in sw.get_inputs()] == ["tensor(float)", "tensor(float)"]
        out = sw.run(None, {"target": np.full((2, 3, 128, 128), 0.5, np.float32),
                            "source": np.full((2, 512), 512**-0.5, np.float32)})[0]
        assert out.shape == (2, 3, 128, 128) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_fp16_swapper_matches_fp32(kit_dir: Path, manifest: Manifest) -> None:
    """The fp16 variant computes the same swap (to fp16 precision)."""
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 1, (1, 3, 128, 128)).astype(np.float32)
    target[:, 0] = np.maximum(target[:, 0], 0.8)  # plenty of "skin" pixels
    target[:, 2] = np.minimum(target[:, 2], 0.4)
    source = rng.standard_normal((1, 512)).astype(np.float32)
    source = np.abs(source) / np.linalg.norm(source)
    results = []
    for model_id in ("inswapper_128", "inswapper_128_fp16"):
        sw = ort.InferenceSession(str(model_path(kit_dir, manifest, model_id)), providers=CPU)
        results.append(sw.run(None, {"target": target, "source": source})[0])
    assert np.abs(results[0] - results[1]).max() < 0.01


def test_enhancer_sharpens_visibly_and_deterministically(kit_dir: Path, manifest: Manifest) -> None:
    """A real enhancer's effect must be visible in tests of the enhancer stage."""
    enh = ort.InferenceSession(str(model_path(kit_dir, manifest, "gfpgan_1.4")), providers=CPU)
    image = np.zeros((2, 3, 512, 512), np.float32)
    image[:, :, :, 256:] = 0.5  # an edge
    out = enh.run(None, {"input": image})[0]
    assert out.shape == image.shape and -1.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out, enhance_reference(image), atol=1e-5)
    assert np.abs(out - image).mean() > 0.02
    assert out[0, 0, 100, 256] > out[0, 0, 100, 300] > 0.5  # overshoot at the edge, contrast inside
    np.testing.assert_array_equal(out, enh.run(None, {"input": image})[0])
