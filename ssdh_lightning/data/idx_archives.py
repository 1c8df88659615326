"""idx archives (MNIST's format) unpacked by their content, not their checksum.

Debian's ``dataset-fashion-mnist`` holds the real files recompressed, so their ``.gz`` checksums
differ from the published ones and torchvision neither reads nor unpacks them. Here an archive
``<name>.gz`` beside a missing ``<name>`` is unpacked whatever its compression (gzip, or none)
when its content is a valid idx file: the magic number, the sizes in its header, the length they
imply, and the same count of images and labels in each split.
"""

from __future__ import annotations

import gzip
import logging
import math
import struct
import zlib
from pathlib import Path

from ssdh_lightning.io import atomic_write

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08  # the type code of unsigned bytes, the only one MNIST uses
log = logging.getLogger(__name__)


class InvalidIdxArchive(ValueError):
    """An archive whose content is not the idx file it is named for."""


def _decompressed(archive: Path) -> tuple[bytes, str]:
    """The archive's bytes and how they were stored: gzip, or as they are."""
    data = archive.read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data, "uncompressed"
    try:
        return gzip.decompress(data), "gzip"
    except (OSError, EOFError, zlib.error) as error:
        raise InvalidIdxArchive(
            f"{archive} cannot be decompressed ({error}); delete it and fetch it again"
        ) from None


def idx_shape(data: bytes, dimensions: int, source: Path) -> tuple[int, ...]:
    """The shape in the header of the idx file ``data``, checked against its length."""
    problem = None
    if len(data) < 4 or data[:3] != bytes((0, 0, IDX_UBYTE)):
        problem = f"its magic number is {data[:4].hex() or 'missing'}, not 000008xx"
    elif data[3] != dimensions:
        problem = f"it has {data[3]} dimensions, the file's name says {dimensions}"
    elif len(data) < 4 + 4 * dimensions:
        problem = "its header is cut short"
    if problem is None:
        shape = struct.unpack(f">{dimensions}I", data[4 : 4 + 4 * dimensions])
        expected = 4 + 4 * dimensions + math.prod(shape)
        if len(data) == expected:
            return shape
        problem = f"its header gives shape {shape}, {expected} bytes, but it holds {len(data)}"
    raise InvalidIdxArchive(
        f"{source} is not a valid idx file: {problem}; delete it and fetch it again"
    )


def _dimensions(name: str) -> int:
    # the names say it: train-images-idx3-ubyte, t10k-labels-idx1-ubyte
    return int(name.split("-idx")[1][0])


def unpack_idx_archives(folder: Path, names: tuple[str, ...]) -> list[str]:
    """Unpack ``<name>.gz`` for every missing ``<name>`` of ``names`` in ``folder``, content
    checked first (images and labels of a split must agree in count); says what was done in the
    log and returns those lines. Nothing is written unless every archive present is valid."""
    unpacked: dict[str, tuple[bytes, str, tuple[int, ...]]] = {}
    for name in names:
        archive = folder / f"{name}.gz"
        if (folder / name).is_file() or not archive.is_file():
            continue
        data, how = _decompressed(archive)
        unpacked[name] = (data, how, idx_shape(data, _dimensions(name), archive))
    for images in (name for name in unpacked if "-images-" in name):
        labels = images.replace("-images-idx3", "-labels-idx1")
        if labels in unpacked and unpacked[labels][2][0] != unpacked[images][2][0]:
            raise InvalidIdxArchive(
                f"{folder / (images + '.gz')} holds {unpacked[images][2][0]} images but "
                f"{folder / (labels + '.gz')} {unpacked[labels][2][0]} labels; they are not "
                "the same split: delete them and fetch them again"
            )
    done = []
    for name, (data, how, shape) in unpacked.items():
        atomic_write(folder / name, lambda stream, data=data: stream.write(data))
        done.append(f"unpacked {folder / name}.gz ({how}, a valid idx file of shape {shape})")
        log.info("%s", done[-1])
    return done
