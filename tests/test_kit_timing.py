"""Architecture-class timing models: right contract, right size, real compute.

The full inswapper-class model is ~550 MB, so the default run checks its size from the plan and
builds, routes and runs a narrow model from the very same builder. Set SWAPCAST_KIT_TIMING=1 to also
write the full-size kit (tens of seconds, ~2 GB of memory).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from insightface.model_zoo import get_model
from insightface.model_zoo.inswapper import INSwapper
from insightface.model_zoo.scrfd import SCRFD
from onnx import numpy_helper

from engines.testing import synthetic_face as sf
from engines.testing import timing_models as tm
from engines.testing.graph_helpers import save_model
from engines.testing.manifest import Manifest

CPU = ["CPUExecutionProvider"]


def test_inswapper_class_has_about_138m_parameters() -> None:
    assert tm.plan_parameter_count(tm.inswapper_arch_plan()) == pytest.approx(138e6, rel=0.01)


def test_scrfd_class_costs_about_10_gmacs_at_640() -> None:
    assert tm.scrfd_arch_macs() == pytest.approx(10e9, rel=0.1)


def test_narrow_inswapper_class_builds_from_the_same_plan_and_runs(tmp_path: Path) -> None:
    model = tm.build_inswapper_arch(width=1 / 16)
    plan = {spec.name: spec.shape for spec in tm.inswapper_arch_plan(width=1 / 16)}
    stored = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert {name: stored[name] for name in plan} == plan
    assert model.graph.initializer[-1].name == "emap"
    assert numpy_helper.to_array(model.graph.initializer[-1]).shape == (512, 512)
    path = save_model(model, tmp_path / "arch.onnx")
    swapper = get_model(str(path), providers=CPU)
    assert isinstance(swapper, INSwapper)
    latent = np.random.default_rng(0).standard_normal((2, 512)).astype(np.float32)
    latent /= np.linalg.norm(latent, axis=1, keepdims=True)
    out = swapper.session.run(None, {"target": np.random.rand(2, 3, 128, 128).astype(np.float32), "source": latent})[0]
    assert out.shape == (2, 3, 128, 128) and 0.0 <= out.min() and out.max() <= 1.0 and out.std() > 0.01
    assert not np.allclose(out[0], out[1])


def test_narrow_scrfd_class_routes_and_never_fires(tmp_path: Path) -> None:
    path = save_model(tm.build_scrfd_arch(width=0.25), tmp_path / "det.onnx")
    detector = get_model(str(path), providers=CPU)
    assert isinstance(detector, SCRFD)
    detector.prepare(ctx_id=-1, input_size=(640, 640))
    image = sf.busy_background(640, 480, seed=0)
    sf.draw_face(image, (300.0, 240.0), 200.0, sf.IDENTITIES[0])
    boxes, _ = detector.detect(image, max_num=0)
    assert len(boxes) == 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SWAPCAST_KIT_TIMING"), reason="set SWAPCAST_KIT_TIMING=1 (writes ~590 MB)")
def test_full_timing_kit(tmp_path: Path) -> None:
    from engines.testing.kit import write_kit

    manifest = Manifest.load(write_kit(tmp_path, timing=True))
    arch = manifest.by_id("inswapper_128_arch")
    assert not arch.default and arch.role == "swapper" and arch.size > 500e6
    model = onnx.load(str(tmp_path / arch.file), load_external_data=False)
    assert model.graph.initializer[-1].name == "emap"
    assert sum(int(np.prod(t.dims)) for t in model.graph.initializer) == pytest.approx(138.5e6, rel=0.01)
    assert isinstance(get_model(str(tmp_path / manifest.by_id("det_10g_arch").file), providers=CPU), SCRFD)
