"""MNIST and Fashion-MNIST (the same idx format) through torchvision's reader.

Files: ``<root>/MNIST/raw/`` or ``<root>/FashionMNIST/raw/``, torchvision's layout, holding the
four uncompressed idx files, or their ``.gz`` archives (unpacked by content, ``idx_archives``:
recompressed copies such as Debian's are taken too). The ``paper`` protocol: the 10,000 test
images are the queries, the 60,000 training images the database and the training set.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import MNIST, FashionMNIST

from ssdh_lightning.data.idx_archives import unpack_idx_archives
from ssdh_lightning.data.in_memory import InMemoryDataModule, TrainTestImages, check_labels
from ssdh_lightning.data.required_files import ensure_files

IDX_KINDS = ("images-idx3-ubyte", "labels-idx1-ubyte")
IDX_FILES = tuple(f"{prefix}-{kind}" for prefix in ("train", "t10k") for kind in IDX_KINDS)
# (title, torchvision reader, pixel mean, pixel std) of each variant, statistics in [0, 1].
VARIANTS = {
    "mnist": ("MNIST", MNIST, (0.1307,), (0.3081,)),
    "fashion_mnist": ("Fashion-MNIST", FashionMNIST, (0.2860,), (0.3530,)),
}


class MNISTDataModule(InMemoryDataModule):
    """28x28 grey images of 10 classes; ``variant`` is ``mnist`` or ``fashion_mnist``."""

    channels = 1

    def __init__(self, variant: str = "mnist", normalization: str = "dataset", **options) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"data.variant must be one of {list(VARIANTS)}, got {variant!r}")
        self.title, self.reader, mean, std = VARIANTS[variant]
        self.stats = (mean, std)
        super().__init__(normalization=normalization, **options)
        self.variant = variant
        self.name = variant

    @property
    def folder(self) -> Path:
        """torchvision's folder for the idx files."""
        return self.root / self.reader.__name__ / "raw"

    def ensure_files(self, download: bool) -> None:
        if self.folder.is_dir():
            unpack_idx_archives(self.folder, IDX_FILES)
        ensure_files(
            self.title,
            self.root,
            self.folder,
            IDX_FILES,
            download,
            fetch=lambda: self.reader(str(self.root), train=True, download=True),
            archives=f"the .gz archives of these files (any gzip, checked by content) placed in "
            f"{self.folder}",
        )

    def read(self) -> TrainTestImages:
        train = self.reader(str(self.root), train=True)
        test = self.reader(str(self.root), train=False)
        fix = (
            f"the file is damaged or not {self.title}'s: delete it and run with "
            "data.download=true to fetch it again"
        )
        for split, prefix in ((train, "train"), (test, "t10k")):
            images, labels = (self.folder / f"{prefix}-{kind}" for kind in IDX_KINDS)
            targets = split.targets.numpy()
            check_labels(
                targets, len(split.data), len(split.classes), str(labels), str(images), fix
            )
        return TrainTestImages(
            train_images=train.data[:, None].contiguous(),
            train_labels=train.targets.to(torch.int64),
            test_images=test.data[:, None].contiguous(),
            test_labels=test.targets.to(torch.int64),
            class_names=list(train.classes),
        )
