"""Tags that mark outputs as AI-altered (responsible use): image text chunks/EXIF, video comments."""

from __future__ import annotations

import io

import numpy as np

AI_TAG = "AI-altered (SwapCast)"


def output_tags(extra: str | None = None) -> dict[str, str]:
    """The tags every SwapCast output carries."""
    text = AI_TAG if not extra else f"{AI_TAG}: {extra}"
    return {"comment": text, "description": text, "software": "SwapCast"}


# EXIF tag numbers (TIFF 6.0 / EXIF 2.3).
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131


def encode_tagged_image(image_bgr: np.ndarray, suffix: str, tags: dict[str, str], quality: int = 95) -> bytes:
    """Encode with Pillow so the tags go in while encoding (no second lossy pass)."""
    from PIL import Image, PngImagePlugin

    rgb = Image.fromarray(np.ascontiguousarray(image_bgr[..., ::-1]))
    buffer = io.BytesIO()
    suffix = suffix.lower()
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for key, value in tags.items():
            info.add_text(key.capitalize(), value)
        rgb.save(buffer, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[_EXIF_IMAGE_DESCRIPTION] = tags.get("description", AI_TAG)
        exif[_EXIF_SOFTWARE] = tags.get("software", "SwapCast")
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix)
        if fmt is None:
            raise ValueError(f"cannot tag a '{suffix}' image")
        options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
        rgb.save(buffer, format=fmt, exif=exif, **options)
    return buffer.getvalue()


def read_image_tags(path) -> dict[str, str]:
    """PNG text chunks and EXIF description/software, for tests and `swapcast` inspection."""
    from PIL import Image

    with Image.open(path) as image:
        tags = {str(k).lower(): str(v) for k, v in getattr(image, "text", {}).items()}
        exif = image.getexif()
        if _EXIF_IMAGE_DESCRIPTION in exif:
            tags.setdefault("description", str(exif[_EXIF_IMAGE_DESCRIPTION]))
        if _EXIF_SOFTWARE in exif:
            tags.setdefault("software", str(exif[_EXIF_SOFTWARE]))
    return tags
