"""An uploaded query image, checked before the model sees it: its size in bytes, that it is an
image in a format decoded here (``images.files.IMAGE_FORMATS``), and its pixel count from its
header, before anything is decoded. No answer names a path or a command of the server's: what
Pillow says of a spooled file or a temporary copy is not passed on."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from ssdh_lightning.images.files import FORMAT_NAMES, open_image, pillow_pixel_limit
from ssdh_lightning.indexing.query import Queries
from ssdh_lightning.serve.served import ServedIndex
from ssdh_lightning.serve.settings import ServeSettings


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    return upload.file.seek(0, 2)


def check_image(upload: UploadFile, settings: ServeSettings) -> None:
    """Raise 413 (too many bytes or pixels) or 415 (not an image) for an upload."""
    name = upload.filename or "the upload"
    size = _size(upload)
    if size > settings.max_upload_bytes:
        raise HTTPException(
            413,
            f"{name} has {size} bytes, more than this server takes "
            f"({settings.max_upload_bytes}, settings.max_upload_bytes): upload a smaller image",
        )
    upload.file.seek(0)
    try:
        with open_image(upload.file) as image:  # reads the header only
            width, height = image.size
    except Image.DecompressionBombError:
        # Pillow's own limit, above settings.max_pixels (ServeSettings checks that): the
        # setting is what the user can act on
        pixels = f"more than {pillow_pixel_limit()} pixels"
        raise HTTPException(413, _too_many_pixels(name, pixels, settings)) from None
    except UnidentifiedImageError:
        raise HTTPException(
            415,
            f"{name} is not an image in a format this server decodes: upload a {FORMAT_NAMES} file",
        ) from None
    # PIL's message names the spooled file object, not the upload: only the type is told
    except (OSError, SyntaxError, ValueError) as error:
        raise HTTPException(
            415,
            f"{name} has a header that cannot be read ({type(error).__name__}): upload a "
            f"{FORMAT_NAMES} file that is not damaged",
        ) from None
    if width * height > settings.max_pixels:
        pixels = f"{width}x{height} = {width * height} pixels"
        raise HTTPException(413, _too_many_pixels(name, pixels, settings))


def _too_many_pixels(name: str, pixels: str, settings: ServeSettings) -> str:
    return (
        f"{name} has {pixels}, more than this server decodes ({settings.max_pixels}, "
        "settings.max_pixels): upload a smaller image"
    )


def encode_upload(served: ServedIndex, upload: UploadFile, settings: ServeSettings) -> Queries:
    """The checked upload encoded by the index's model; 422 when it does not decode."""
    if served.model is None:
        raise HTTPException(
            409,
            f"the index at {served.folder} names no model (it was not built by ssdh-index), so "
            "images cannot be encoded: search by codes or by item instead",
        )
    check_image(upload, settings)
    name = Path(upload.filename or "upload").name
    upload.file.seek(0)
    with tempfile.TemporaryDirectory(prefix="ssdh-serve-") as folder:
        path = Path(folder) / "query"
        with open(path, "wb") as stream:
            shutil.copyfileobj(upload.file, stream)
        encoded = served.encode(path, name)
    if isinstance(encoded, str):
        reason = encoded.replace(str(path), name)  # the temporary copy is no business of a client
        raise HTTPException(
            422,
            f"{name} has an image header but cannot be decoded ({reason}): upload an "
            "image that is not truncated or damaged",
        )
    return encoded
