"""Reading and writing still images with errors a user can act on (non-ASCII paths included)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}


def read_image(path: Path) -> np.ndarray:
    """BGR uint8, whatever the file held (alpha dropped, grayscale expanded)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found", "check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)", "re-export or re-download it")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise InputError(f"{path}: is a video, not a photo", "give a still image (PNG/JPEG) of the face")
    # np.fromfile + imdecode: cv2.imread cannot open non-ASCII paths on Windows.
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt, or not an image format)",
                         "open it in an image viewer and re-save it as PNG or JPEG")
    return to_bgr(image)


def to_bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        # 16-bit PNGs and float TIFFs: scale to 8 bits rather than clip.
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def write_image_atomic(path: Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Encode, write beside the destination, then rename: no half-written file under the name."""
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    if text and suffix in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):
        from .metadata import encode_tagged_image

        payload = encode_tagged_image(image, suffix, text)
    else:
        ok, encoded = cv2.imencode(suffix, image)
        if not ok:
            raise InputError(f"{path}: cannot encode an image as '{suffix}'", "use .png or .jpg")
        payload = encoded.tobytes()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix + ".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
