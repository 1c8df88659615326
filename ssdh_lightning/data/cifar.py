"""CIFAR-10 through torchvision's reader, with the ``paper`` and ``cnnh`` splits of PROTOCOL.md.

Files: ``<root>/cifar-10-batches-py/`` (torchvision's layout): the python batches ``data_batch_1``
to ``data_batch_5``, ``test_batch`` and ``batches.meta``.
"""

from __future__ import annotations

from typing import ClassVar

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


class _CIFAR10Unchecked(CIFAR10):
    """torchvision's reader without its md5 checks, for batches in CIFAR-10's format that are not
    byte for byte the published files (pickled again, or made for a test)."""

    train_list: ClassVar = [[name, None] for name, _ in CIFAR10.train_list]
    test_list: ClassVar = [[name, None] for name, _ in CIFAR10.test_list]
    meta: ClassVar = {**CIFAR10.meta, "md5": None}


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
        train = _CIFAR10Unchecked(str(self.root), train=True)
        test = _CIFAR10Unchecked(str(self.root), train=False)

        def images(dataset: CIFAR10) -> torch.Tensor:
            return torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()

        def labels(dataset: CIFAR10) -> torch.Tensor:
            return torch.tensor(dataset.targets, dtype=torch.int64)

        return TrainTestImages(
            train_images=images(train),
            train_labels=labels(train),
            test_images=images(test),
            test_labels=labels(test),
            class_names=list(train.classes),
        )
