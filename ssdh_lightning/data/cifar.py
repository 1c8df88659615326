"""CIFAR-10, downloaded by torchvision and read here without running anything a file holds,
with the ``paper`` and ``cnnh`` splits of PROTOCOL.md.

Files: ``<root>/cifar-10-batches-py/`` (torchvision's layout): the python batches ``data_batch_1``
to ``data_batch_5``, ``test_batch`` and ``batches.meta``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from ssdh_lightning.data.in_memory import InMemoryDataModule, TrainTestImages
from ssdh_lightning.data.required_files import ensure_files

# Every file with torchvision's published md5 checksum.
CHECKSUMS = {name: md5 for name, md5 in (*CIFAR10.train_list, *CIFAR10.test_list)} | {
    CIFAR10.meta["filename"]: CIFAR10.meta["md5"]
}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, lists, dicts, strings and numbers, nothing else:
    CIFAR-10's python batches are pickles, and a file of another origin must not run code."""

    ALLOWED: ClassVar = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol 2 writes bytes: a string and its encoding
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"it holds {module}.{name}, not an array: a CIFAR-10 batch holds only arrays, lists "
            "and strings, so it was not read"
        )


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as stream:
        batch = _ArraysOnly(stream, encoding="latin1").load()
    if not isinstance(batch, dict):
        raise pickle.UnpicklingError(f"it holds a {type(batch).__name__}, not a CIFAR-10 batch")
    return batch


def _read_images(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 labels of the batches ``names``, in order."""
    batches = [_read_batch(folder / name) for name in names]
    data = np.concatenate([np.asarray(batch["data"], dtype=np.uint8) for batch in batches])
    labels = [label for batch in batches for label in batch["labels"]]
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.tensor(labels, dtype=torch.int64)


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
        train_images, train_labels = _read_images(self.folder, [n for n, _ in CIFAR10.train_list])
        test_images, test_labels = _read_images(self.folder, [n for n, _ in CIFAR10.test_list])
        meta = _read_batch(self.folder / CIFAR10.meta["filename"])
        return TrainTestImages(
            train_images=train_images,
            train_labels=train_labels,
            test_images=test_images,
            test_labels=test_labels,
            class_names=list(meta[CIFAR10.meta["key"]]),
        )
