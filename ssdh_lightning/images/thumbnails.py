"""Thumbnails of image files, for people: the HTML page and contact sheet of ``ssdh-search``
and the items the server shows."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

from ssdh_lightning.images.files import UnreadableImage, load_image

THUMBNAIL = 96  # pixels, the longer side
MISSING = (200, 200, 200)  # the grey of a file that cannot be shown


def missing_thumbnail() -> Image.Image:
    return Image.new("RGB", (THUMBNAIL, THUMBNAIL), MISSING)


def thumbnail(path: Path) -> Image.Image:
    """The image at ``path`` fitted in a square of THUMBNAIL pixels (grey if unreadable)."""
    try:
        image = load_image(path, channels=3)
    except UnreadableImage:
        return missing_thumbnail()
    small = max(image.size) < THUMBNAIL  # tiny images (digits) stay sharp when enlarged
    method = Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS
    return ImageOps.contain(image, (THUMBNAIL, THUMBNAIL), method=method)


def png_bytes(image: Image.Image) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format="PNG")
    return stream.getvalue()
