"""CIFAR-10, downloaded by torchvision and read here without running anything a file holds,
with the ``paper`` and ``cnnh`` splits of PROTOCOL.md.

Files: ``<root>/cifar-10-batches-py/`` (torchvision's layout): the python batches ``data_batch_1``
to ``data_batch_5``, ``test_batch`` and ``batches.meta``.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from ssdh_lightning.data.in_memory import InMemoryDataModule, TrainTestImages, check_labels
from ssdh_lightning.data.required_files import ensure_files

# Every file with torchvision's published md5 checksum.
CHECKSUMS = {name: md5 for name, md5 in (*CIFAR10.train_list, *CIFAR10.test_list)} | {
    CIFAR10.meta["filename"]: CIFAR10.meta["md5"]
}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# The format: a batch holds 10,000 images, each a row of 3,072 bytes (32x32, the red plane,
# then green, then blue), as uint8 under 'data', their labels under 'labels'.
BATCH_ROWS, ROW_BYTES = 10_000, 3 * 32 * 32
MAX_FILE_BYTES = 64 * 2**20  # a batch file is 31 MB
FIX = (
    "the file is damaged or not CIFAR-10's: delete it and run with data.download=true to fetch "
    "it again"
)


class _Dtype:
    """What a pickle's ``numpy.dtype(...)`` becomes here: an integer type by name, nothing
    numpy builds until the array is (an object dtype would let a pickle crash the process)."""

    KINDS = frozenset({"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"})

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if spec not in self.KINDS:
            raise pickle.UnpicklingError(f"it holds an array of type {spec!r}, not of integers")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, ...): integers have an order only
        order = state[1] if isinstance(state, tuple) and len(state) >= 5 else None
        if order not in ("<", ">", "|", "=") or any(part is not None for part in state[2:5]):
            raise pickle.UnpicklingError("it holds an array type that is not a plain integer")
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


class _Array:
    """What a pickle's ``numpy ndarray`` becomes here: ``array`` is built only once its state
    (shape, type, bytes) is checked; the bytes must be exactly what the shape needs, at most a
    whole batch's, so no shape in a file sizes an allocation."""

    def __init__(self, *_: Any) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("it holds an array whose state is not numpy's")
        _, shape, dtype, fortran, data = state
        if isinstance(data, str):  # how Python 2 pickles (the published files) keep bytes
            data = data.encode("latin1")
        valid = (
            isinstance(shape, tuple)
            and all(type(side) is int and side >= 0 for side in shape)
            and isinstance(dtype, _Dtype)
            and isinstance(data, bytes)
            and len(data) <= BATCH_ROWS * ROW_BYTES
        )
        if not valid or math.prod(shape) * dtype.dtype.itemsize != len(data):
            raise pickle.UnpicklingError(
                f"it holds an array of shape {shape!r} that its bytes do not fill, or larger "
                f"than a batch ({BATCH_ROWS} x {ROW_BYTES} bytes)"
            )
        order = "F" if fortran else "C"
        self.array = np.frombuffer(data, dtype=dtype.dtype).reshape(shape, order=order)


def _latin1(text: Any, encoding: Any) -> bytes:
    """``_codecs.encode`` as protocol 2 writes bytes: a string and 'latin1', nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"it encodes with {encoding!r}, not latin1")
    return text.encode("latin1")


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays of integers, lists, dicts, strings and numbers,
    nothing else: CIFAR-10's python batches are pickles, and a file of another origin must not
    run code nor size an allocation. numpy's own classes are never handed to the pickle: its
    arrays and types are stood in for by ``_Array`` and ``_Dtype``, which check before building."""

    STAND_INS: ClassVar = {
        ("numpy.core.multiarray", "_reconstruct"): _Array,
        ("numpy._core.multiarray", "_reconstruct"): _Array,
        ("numpy", "ndarray"): _Array,
        ("numpy", "dtype"): _Dtype,
        ("_codecs", "encode"): _latin1,
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.STAND_INS:
            return self.STAND_INS[(module, name)]
        raise pickle.UnpicklingError(
            f"it holds {module}.{name}, not an array: a CIFAR-10 batch holds only arrays, lists "
            "and strings, so it was not read"
        )


def _read_batch(path: Path) -> dict:
    """The dict that the batch file at ``path`` holds, read by ``_ArraysOnly``."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"CIFAR-10: {path} is {size} bytes, more than a batch file ({MAX_FILE_BYTES}); {FIX}"
        )
    try:
        batch = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, MemoryError, ValueError, TypeError) as error:
        reason = str(error) or type(error).__name__
        raise ValueError(f"CIFAR-10: {path} cannot be read ({reason}); {FIX}") from None
    if not isinstance(batch, dict):
        raise ValueError(
            f"CIFAR-10: {path} holds a {type(batch).__name__}, not a CIFAR-10 batch; {FIX}"
        )
    return batch


def _batch_images(path: Path, classes: int) -> tuple[np.ndarray, list[int]]:
    """The uint8 rows (N, 3072) and labels of the batch file ``path``, checked against the
    format: N at most 10,000, one label each, every label a class."""
    batch = _read_batch(path)
    data = batch.get("data")
    if not isinstance(data, _Array) or data.array is None:
        raise ValueError(
            f"CIFAR-10: {path} has no array under 'data' (a batch holds its images there, "
            f"{BATCH_ROWS} rows of {ROW_BYTES} bytes); {FIX}"
        )
    rows = data.array
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != ROW_BYTES:
        raise ValueError(
            f"CIFAR-10: {path} holds 'data' of {rows.dtype} {tuple(rows.shape)}, not rows of "
            f"{ROW_BYTES} uint8 values (32x32 in 3 colours); {FIX}"
        )
    labels = batch.get("labels")
    if not isinstance(labels, list) or not all(type(label) is int for label in labels):
        raise ValueError(f"CIFAR-10: {path} has no list of integers under 'labels'; {FIX}")
    check_labels(np.array(labels, dtype=np.int64), len(rows), classes, str(path), str(path), FIX)
    return rows, labels


def _read_images(folder: Path, names: list[str], classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 labels of the batches ``names``, in order."""
    batches = [_batch_images(folder / name, classes) for name in names]
    data = np.concatenate([rows for rows, _ in batches])
    labels = [label for _, batch_labels in batches for label in batch_labels]
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.tensor(labels, dtype=torch.int64)


def _class_names(path: Path) -> list[str]:
    """The class names of ``batches.meta``: a list of strings under 'label_names'."""
    names = _read_batch(path).get(CIFAR10.meta["key"])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"CIFAR-10: {path} has no list of class names under {CIFAR10.meta['key']!r}; {FIX}"
        )
    return names


class CIFAR10DataModule(InMemoryDataModule):
    """60,000 32x32 colour images of 10 classes. ``protocol``: ``paper`` (the 10,000 test images
    are the queries, the 50,000 training images the database and the training set) or ``cnnh``
    (100 queries a class from all 60,000, the other 59,000 the database, 500 a class of them the
    training set). ``verify_checksums`` checks the files against the published ones first."""

    title = "CIFAR-10"
    name = "cifar10"
    protocols = ("paper", "cnnh")
    stats = (CIFAR10_MEAN, CIFAR10_STD)

    def __init__(self, verify_checksums: bool = True, **options) -> None:
        super().__init__(**options)
        self.verify_checksums = verify_checksums

    @property
    def folder(self):
        return self.root / CIFAR10.base_folder

    def ensure_files(self, download: bool) -> None:
        ensure_files(
            self.title,
            self.root,
            self.folder,
            list(CHECKSUMS),
            download,
            fetch=lambda: CIFAR10(str(self.root), train=True, download=True),
            archives=f"{self.root / CIFAR10.filename}",
        )

    def _check_checksums(self) -> None:
        damaged = [
            name for name, md5 in CHECKSUMS.items() if not check_integrity(self.folder / name, md5)
        ]
        if damaged:
            raise ValueError(
                f"CIFAR-10: {', '.join(damaged)} in {self.folder} do not match the published "
                "files' md5 checksums (a partial download, or other data). Delete them and run "
                "with data.download=true to fetch them again, or set data.verify_checksums=false "
                "to read them as they are."
            )

    def read(self) -> TrainTestImages:
        # Checked once here, with an error that says what to do; torchvision's reader would
        # check every file again for each of its two splits.
        if self.verify_checksums:
            self._check_checksums()
        class_names = _class_names(self.folder / CIFAR10.meta["filename"])
        train = _read_images(self.folder, [n for n, _ in CIFAR10.train_list], len(class_names))
        test = _read_images(self.folder, [n for n, _ in CIFAR10.test_list], len(class_names))
        return TrainTestImages(*train, *test, class_names=class_names)
