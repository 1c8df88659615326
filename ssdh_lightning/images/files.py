"""Image files that may be broken: decode them, convert what can be converted, skip the rest.

Every image this project reads (training folders, list files, queries, uploads, thumbnails) is
opened by ``open_image``: regular files only, in the raster formats of ``IMAGE_FORMATS`` only.
A file that cannot be decoded (truncated, empty, not an image, another format) raises
``UnreadableImage`` in ``load_image`` and becomes a ``Skipped`` item in ``ImageFiles``, so that
one bad file never stops an epoch. Convertible files (CMYK, 16-bit, palette, transparency) are
converted to RGB or grey.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

# Pillow's names of the formats decoded: raster formats that Pillow decodes itself or through
# its codec libraries (libjpeg, zlib, libtiff, libwebp). Pillow's other plugins are never tried:
# its EPS plugin hands the file to Ghostscript (a PostScript interpreter with a long record of
# escapes from -dSAFER), and the rest (PSD, ICO, PCX, ...) only add parsers that no image of a
# retrieval data set needs. PPM is the format of the .ppm and .pgm files that folders take.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
FORMAT_NAMES = "JPEG, PNG, GIF, BMP, TIFF, WebP or PPM"

# The extensions torchvision's ImageFolder takes, and GIF.
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
)
WHITE = (255, 255, 255, 255)  # what transparent pixels become: product photos sit on white


class UnreadableImage(Exception):
    """A file that cannot be decoded as an image; ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class Skipped(NamedTuple):
    """A file left out of a batch, and why."""

    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey images scaled to 8 bits; PIL's own conversion clips them to white."""
    values = np.asarray(image)
    if image.mode.startswith("I;16") or values.max(initial=0) > 255:
        values = np.clip(values, 0, 65535).astype(np.uint32) >> 8
    return Image.fromarray(values.astype(np.uint8), mode="L")


def convert_image(image: Image.Image, channels: int) -> Image.Image:
    """``image`` as RGB (``channels`` 3) or grey (1); transparency is laid on white."""
    if image.mode.startswith("I"):
        image = _eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA"))
    return _in_mode(image, "L" if channels == 1 else "RGB")


def _in_mode(image: Image.Image, mode: str) -> Image.Image:
    # PIL's convert copies the image even when it is in that mode already
    return image if image.mode == mode else image.convert(mode)


def _regular_file(path: str | Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file. A FIFO or a device is refused before
    it is opened (opening a FIFO waits for a writer; opening a device may act), and the open
    itself does not block, in case one was put there after the check."""
    not_regular = "not a regular file (a FIFO, a device or a socket): only files are read"
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise UnreadableImage(path, not_regular)
    stream = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        stream.close()
        raise UnreadableImage(path, not_regular)
    return stream


@contextmanager
def open_image(source: str | Path | BinaryIO) -> Iterator[Image.Image]:
    """The image at ``source`` (a path, or a binary stream such as an upload) opened by Pillow
    in one of ``IMAGE_FORMATS``: its header is read, nothing is decoded yet. Another format
    raises ``UnidentifiedImageError``; a path that is not a regular file, ``UnreadableImage``."""
    if isinstance(source, str | Path):
        with _regular_file(source) as stream, Image.open(stream, formats=IMAGE_FORMATS) as image:
            yield image
    else:
        with Image.open(source, formats=IMAGE_FORMATS) as image:
            yield image


def pillow_pixel_limit() -> int:
    """The pixel count past which Pillow refuses to open an image (its decompression-bomb
    check), whatever a caller's own limit."""
    return 2 * Image.MAX_IMAGE_PIXELS


def load_image(path: str | Path, channels: int = 3) -> Image.Image:
    """The decoded image at ``path`` as RGB or grey; ``UnreadableImage`` when it cannot be."""
    try:
        with open_image(path) as image:
            image.load()
            return convert_image(image, channels)
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        reason = f"cannot identify image file in a format decoded here ({FORMAT_NAMES})"
        raise UnreadableImage(path, reason) from None
    # PIL's decoders raise many types on corrupt input (OSError, SyntaxError, ValueError,
    # struct.error, DecompressionBombError, ...): whatever the file does, it is skipped.
    except Exception as error:
        raise UnreadableImage(path, f"{type(error).__name__}: {error}") from None


class ImageFiles(Dataset):
    """Image files with their labels; item ``i`` is ``(view(image), label, i)``, or ``Skipped``
    when the file cannot be decoded. ``path_of`` maps a position to the file's path; ``labels``
    are class ids (N,) or multi-hot vectors (N, classes) of 0 and 1, kept as uint8."""

    def __init__(
        self,
        path_of: Callable[[int], Path],
        positions: np.ndarray,
        labels: np.ndarray,
        view: Callable[[Image.Image], torch.Tensor],
        channels: int = 3,
    ) -> None:
        if len(positions) != len(labels):
            raise ValueError(f"{len(positions)} files but {len(labels)} labels")
        self.path_of = path_of
        self.positions = np.asarray(positions, dtype=np.int64)
        labels = np.asarray(labels)
        self.labels = torch.from_numpy(labels.astype(np.uint8 if labels.ndim == 2 else np.int64))
        self.view = view
        self.channels = channels

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def ids(self) -> np.ndarray:
        """Each item's id: the position ``path_of`` takes (its index in the folder scan or list
        file), the same in every run over those files."""
        return self.positions

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int] | Skipped:
        path = self.path_of(int(self.positions[index]))
        try:
            image = load_image(path, self.channels)
        except UnreadableImage as error:
            return Skipped(error.path, error.reason)
        return self.view(image), self.labels[index], index


def collate_images(
    items: Sequence[tuple[torch.Tensor, torch.Tensor, int] | Skipped],
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, list[Skipped]]:
    """(images, labels, positions, skipped): the decoded items stacked, the skipped ones listed
    apart. ``images`` is None (and ``labels`` empty) when every file of the batch was skipped."""
    decoded = [item for item in items if not isinstance(item, Skipped)]
    skipped = [item for item in items if isinstance(item, Skipped)]
    if not decoded:
        empty = torch.empty(0, dtype=torch.int64)
        return None, empty, empty, skipped
    images = torch.stack([image for image, _, _ in decoded])
    labels = torch.stack([label for _, label, _ in decoded])
    positions = torch.tensor([position for _, _, position in decoded], dtype=torch.int64)
    return images, labels, positions, skipped
