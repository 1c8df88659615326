"""idx archives (MNIST's format) unpacked by their content, not their checksum.

Debian's ``dataset-fashion-mnist`` holds the real files recompressed, so their ``.gz`` checksums
differ from the published ones and torchvision neither reads nor unpacks them. Here an archive
``<name>.gz`` beside a missing ``<name>`` is unpacked whatever its compression (gzip, or none)
when its content is a valid idx file: the magic number, the sizes in its header (no more than
MNIST's largest file), the length they imply, and the same count of images and labels in each
split. No more is decompressed than the header promises, so a gzip bomb cannot fill memory.
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
# The most an idx file of MNIST or Fashion-MNIST holds past its header: 60,000 images of 28x28.
MAX_IDX_BYTES = 60_000 * 28 * 28
log = logging.getLogger(__name__)


class InvalidIdxArchive(ValueError):
    """An archive whose content is not the idx file it is named for."""


def _invalid(source: Path, problem: str) -> InvalidIdxArchive:
    return InvalidIdxArchive(
        f"{source} is not a valid idx file: {problem}; delete it and fetch it again"
    )


def header_shape(header: bytes, dimensions: int, source: Path) -> tuple[int, ...]:
    """The shape that the idx header ``header`` (its first ``4 + 4 * dimensions`` bytes)
    gives, checked: magic number, dimensions, and at most ``MAX_IDX_BYTES`` of data."""
    if len(header) < 4 or header[:3] != bytes((0, 0, IDX_UBYTE)):
        raise _invalid(source, f"its magic number is {header[:4].hex() or 'missing'}, not 000008xx")
    if header[3] != dimensions:
        raise _invalid(source, f"it has {header[3]} dimensions, the file's name says {dimensions}")
    if len(header) < 4 + 4 * dimensions:
        raise _invalid(source, "its header is cut short")
    shape = struct.unpack(f">{dimensions}I", header[4 : 4 + 4 * dimensions])
    if math.prod(shape) > MAX_IDX_BYTES:
        raise _invalid(
            source,
            f"its header gives shape {shape}, {math.prod(shape)} bytes of data, more than any "
            f"MNIST file holds ({MAX_IDX_BYTES})",
        )
    return shape


def read_idx_archive(archive: Path, dimensions: int) -> tuple[bytes, str, tuple[int, ...]]:
    """The idx file that ``archive`` holds, how it was stored (gzip, or as it is) and its shape.
    The header is read first, then at most the bytes it promises and one more, which tells an
    archive that holds more: what a gzip bomb holds past the promise is never decompressed."""
    try:
        with open(archive, "rb") as raw:
            how = "gzip" if raw.read(2) == GZIP_MAGIC else "uncompressed"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if how == "gzip" else raw
            header = stream.read(4 + 4 * dimensions)
            shape = header_shape(header, dimensions, archive)
            data = header + stream.read(math.prod(shape) + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise InvalidIdxArchive(
            f"{archive} cannot be decompressed ({error}); delete it and fetch it again"
        ) from None
    expected = len(header) + math.prod(shape)
    if len(data) != expected:
        holds = "more" if len(data) > expected else str(len(data))
        raise _invalid(
            archive, f"its header gives shape {shape}, {expected} bytes, but it holds {holds}"
        )
    return data, how, shape


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
        unpacked[name] = read_idx_archive(archive, _dimensions(name))
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
