"""Reading and writing still images with errors a user can act on (non-ASCII paths included).

Pillow reads a photo's header first: its size is checked against the pixel limit (pixel_limit.py)
and its structure (PNG chunk checksums, truncation) verified, without decoding a pixel. Only then does
OpenCV decode it, so a decompression bomb costs nothing and a broken file is our one-line error,
not libpng's or OpenCV's own message on the terminal.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .pixel_limit import check_pixels

# SwapCast's own limit (SWAPCAST_MAX_PIXELS, checked below before any decode) replaces Pillow's fixed
# one, which would refuse a header past 179 MP before we could read its size, or warn at 89 MP.
Image.MAX_IMAGE_PIXELS = None

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}


def read_image(path: Path, *, max_pixels: int | None = None) -> np.ndarray:
    """BGR uint8, whatever the file held (alpha dropped, grayscale expanded). `max_pixels`: the
    limit on width x height (None: SWAPCAST_MAX_PIXELS, else 100 megapixels)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found", "check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)", "re-export or re-download it")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise InputError(f"{path}: is a video, not a photo", "give a still image (PNG/JPEG) of the face")
    # One read serves both (a file swapped between check and decode cannot slip through), and
    # imdecode of bytes: cv2.imread cannot open non-ASCII paths on Windows.
    data = path.read_bytes()
    _check_header(path, data, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise _unreadable(path)
    return to_bgr(image)


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when Pillow cannot tell; decodes nothing."""
    try:
        with Image.open(path) as picture:
            return picture.size
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        return None


def _unreadable(path: Path, why: str = "corrupt, or not an image format") -> InputError:
    return InputError(f"{path}: not a readable image ({why})", "open it in an image viewer and re-save it as PNG or JPEG")


def _check_header(path: Path, data: bytes, max_pixels: int | None) -> None:
    """The size against the limit, then the file's structure: no pixel is decoded here."""
    try:
        with Image.open(io.BytesIO(data)) as picture:  # parses the header only
            width, height = picture.size
            check_pixels(path, width, height, max_pixels)
            picture.verify()  # PNG: every chunk there, checksums right; other formats: cheap or a no-op
    except UnidentifiedImageError:
        raise _unreadable(path) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise _unreadable(path, f"{str(error).strip() or type(error).__name__}") from None


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
