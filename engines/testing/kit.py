"""`write_kit`: writes the kit's models (and optionally samples and timing models) plus a manifest.

The models reuse the real catalog's ids, so the app can point its catalog at the kit:
`det_10g` (detector), `w600k_r50` (recognizer), `inswapper_128` (swapper, default),
`inswapper_128_fp16` (swapper, float16 inside), `gfpgan_1.4` (enhancer), `wav2lip_gan_96` (lip_syncer,
the mouth opens with the audio's loudness); with timing also
`inswapper_128_arch` and `det_10g_arch` (random-weight architecture-class models, never default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx

from engines.testing.detector_model import build_detector
from engines.testing.enhancer_model import build_enhancer
from engines.testing.graph_helpers import check_saved, save_model
from engines.testing.lipsync_model import build_lip_syncer
from engines.testing.manifest import MANIFEST_NAME, Manifest, ModelEntry
from engines.testing.recognizer_model import build_recognizer
from engines.testing.samples import write_samples
from engines.testing.swapper_model import build_swapper
from engines.testing.timing_models import build_inswapper_arch, build_scrfd_arch

Progress = Callable[[str], None]

CONTRACTS: dict[str, dict[str, str]] = {
    "detector": {"inputs": "[1,3,H,W] float BGR->RGB (x-127.5)/128",
                 "outputs": "9 tensors: scores/boxes/kps for strides 8,16,32, 2 anchors"},
    "recognizer": {"inputs": "[N,3,112,112] float aligned crop BGR->RGB (x-127.5)/127.5",
                   "outputs": "[N,512] embedding"},
    "swapper": {"inputs": "target [N,3,128,128] float RGB 0..1; source [N,512] = normalize(embedding @ emap)",
                "outputs": "[N,3,128,128] float RGB 0..1; emap (512x512) is the last initializer"},
    "enhancer": {"inputs": "[N,3,512,512] float RGB -1..1", "outputs": "[N,3,512,512] float RGB -1..1"},
    "lip_syncer": {"inputs": "source [1,1,80,16] mel -4..4; target [1,6,96,96] float BGR 0..1 (lower half masked, whole)",
                   "outputs": "[1,3,96,96] float BGR 0..1"},
}


@dataclass(frozen=True)
class KitModel:
    """One model the kit can write: catalog id, role, file name, default flag, and its builder."""

    id: str
    role: str
    default: bool
    description: str
    build: Callable[[], onnx.ModelProto]
    huge: bool = False  # checked from the saved file instead of in memory

    @property
    def file(self) -> str:
        return f"kit_{self.id}.onnx"


KIT_MODELS: tuple[KitModel, ...] = (
    KitModel("det_10g", "detector", True,
             "Finds the kit's synthetic faces (skin-colour moments); box and 5 keypoints within ~2 px.",
             build_detector),
    KitModel("w600k_r50", "recognizer", True,
             "Embedding = RBF code of the aligned face's mean skin colour; identities cos < 0.2.",
             build_recognizer),
    KitModel("inswapper_128", "swapper", True,
             "Recolours the target's skin to the colour the source latent encodes.",
             lambda: build_swapper(float16=False)),
    KitModel("inswapper_128_fp16", "swapper", False,
             "The kit swapper computed in float16 (float32 inputs/outputs, like the public fp16 file).",
             lambda: build_swapper(float16=True)),
    KitModel("gfpgan_1.4", "enhancer", True,
             "Unsharp mask and mild contrast: visible and deterministic.",
             build_enhancer),
    KitModel("wav2lip_gan_96", "lip_syncer", True,
             "Draws a mouth opening as tall as the mel window is loud; silence returns the crop unchanged.",
             build_lip_syncer),
)

TIMING_MODELS: tuple[KitModel, ...] = (
    KitModel("inswapper_128_arch", "swapper", False,
             "inswapper-class architecture (~138 M parameters), random weights: for timing only.",
             lambda: build_inswapper_arch(check=False), huge=True),
    KitModel("det_10g_arch", "detector", False,
             "SCRFD-class detector (~10 G multiply-adds at 640x640), random weights, never fires: timing only.",
             build_scrfd_arch),
)


def _write_model(directory: Path, spec: KitModel) -> ModelEntry:
    path = directory / spec.file
    tmp = path.with_name(path.name + ".tmp")
    save_model(spec.build(), tmp)
    if spec.huge:
        check_saved(tmp)
    tmp.replace(path)
    return ModelEntry.for_file(path, spec.id, spec.role, spec.default, CONTRACTS[spec.role], spec.description)


def write_kit(directory: Path, samples: bool = False, timing: bool = False,
              progress: Progress | None = None) -> Path:
    """Writes the models + DIR/manifest.json (returns its path); with samples, DIR/samples/...;
    with timing, the architecture-class models too (~590 MB more, tens of seconds)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    say: Progress = progress or (lambda _message: None)
    entries: list[ModelEntry] = []
    for spec in KIT_MODELS + (TIMING_MODELS if timing else ()):
        say(f"writing {spec.id} ({spec.role}) -> {spec.file}")
        entries.append(_write_model(directory, spec))
    if samples:
        say("writing samples (images, video, truth.json)")
        write_samples(directory / "samples")
    manifest_path = Manifest(models=tuple(entries)).write(directory / MANIFEST_NAME)
    say(f"wrote {manifest_path}")
    return manifest_path
