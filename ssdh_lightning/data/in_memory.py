"""Small data sets read whole into memory as uint8 tensors, split by protocol, viewed in batches.

MNIST, Fashion-MNIST and CIFAR-10 share everything here but how their files are found and read.
Images stay at their native size in memory; the network's view (resize, crop, mirror) is computed
a whole batch at a time on the device (``batch_transforms``), so the loader does no per-image work.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ssdh_lightning.data.base import Batch, RetrievalDataModule, Splits
from ssdh_lightning.data.batch_transforms import evaluation_view, training_view
from ssdh_lightning.data.splits import cnnh_split
from ssdh_lightning.preprocessing import Preprocessing, normalization_stats


class InMemoryImages(Dataset):
    """uint8 images (N, C, H, W) with their labels; ``__getitems__`` indexes a batch at once.
    ``ids``: each item's index in the data set as published (default: its position here), the
    same in every run of that data set and protocol (``RetrievalDataModule.query_ids``)."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, ids: np.ndarray | None = None
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels
        self.ids = np.arange(len(images)) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(self.ids) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.ids)} ids")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.images[index], self.labels[index], index

    def __getitems__(self, indices: list[int]) -> Batch:
        rows = torch.as_tensor(indices)
        return Batch(self.images[rows], self.labels[rows], rows)


def check_labels(
    labels: np.ndarray, count: int, classes: int, labels_source: str, images_source: str, fix: str
) -> None:
    """Raise unless ``labels`` (read from ``labels_source``) give one class id below ``classes``
    to each of the ``count`` images of ``images_source``. Checked before training, which would
    otherwise stop mid-epoch on the first label past the classifier."""
    if len(labels) != count:
        raise ValueError(
            f"{labels_source} holds {len(labels)} labels but {images_source} {count} images: "
            f"they are not the same split; {fix}"
        )
    outside = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(outside):
        first = int(outside[0])
        raise ValueError(
            f"{labels_source}: item {first} has the label {int(labels[first])}, not one of the "
            f"{classes} classes (0 to {classes - 1}; {len(outside)} such labels); {fix}"
        )


def stacked_batch(batch: Batch) -> Batch:
    """The collate function for ``InMemoryImages``: its batches come stacked already."""
    return batch


@dataclass
class TrainTestImages:
    """A data set as published: its training and test images, uint8 (N, C, H, W), and labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]


class InMemoryDataModule(RetrievalDataModule):
    """Subclasses say where their files are (``ensure_files``) and read them (``read``).

    ``protocol`` picks the splits of PROTOCOL.md; ``image_size`` (default: the native size) is the
    network's input, cut from images resized to ``resize`` (default: none); ``mirror`` flips half of
    the training images; ``normalization`` picks the mean and std the model applies.
    """

    collate_fn = staticmethod(stacked_batch)
    title = ""  # the data set's name in messages
    channels = 3
    protocols: tuple[str, ...] = ("paper",)
    stats: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # the data set's mean and std

    def __init__(
        self,
        root: str | Path = "data",
        download: bool = True,
        protocol: str = "paper",
        image_size: tuple[int, int] | None = None,
        resize: tuple[int, int] | None = None,
        mirror: bool = False,
        normalization: str | Mapping | None = "torchvision",
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        if protocol not in self.protocols:
            raise ValueError(
                f"data.protocol must be one of {list(self.protocols)} for {self.title}, "
                f"got {protocol!r}"
            )
        self.mean, self.std = normalization_stats(normalization, self.channels, self.stats)
        self.root = Path(root)
        self.download = download
        self.protocol = protocol
        self.image_size = image_size
        self.resize = resize
        self.mirror = mirror

    def prepare_data(self) -> None:
        self.ensure_files(self.download)

    @property
    def folder(self) -> Path:
        """The folder of the data set's files."""
        raise NotImplementedError

    def ensure_files(self, download: bool) -> None:
        """Check that the files are in place; fetch them if ``download``; else raise."""
        raise NotImplementedError

    def read(self) -> TrainTestImages:
        raise NotImplementedError

    def load_splits(self) -> Splits:
        self.ensure_files(self.download)
        try:
            data = self.read()
        except (RuntimeError, AssertionError, EOFError, pickle.UnpicklingError) as error:
            # what torchvision's readers raise on a truncated or foreign file, with no file name
            raise ValueError(
                f"{self.title}: the files in {self.folder} cannot be read ({error!r}); they are "
                "damaged or not the data set's: delete them and run with data.download=true to "
                "fetch them again"
            ) from error
        native_size = tuple(data.train_images.shape[-2:])
        preprocessing = Preprocessing(
            channels=data.train_images.shape[1],
            image_size=tuple(self.image_size or native_size),
            mean=self.mean,
            std=self.std,
            resize=self.resize,
        )
        # ids: the index in the pool of the training images, then the test images, as ``cnnh``
        # draws from it; a query's id is the same under both protocols
        n_train = len(data.train_images)
        if self.protocol == "paper":
            database = InMemoryImages(data.train_images, data.train_labels)
            test_ids = n_train + np.arange(len(data.test_images))
            query = InMemoryImages(data.test_images, data.test_labels, test_ids)
            return Splits(database, query, database, data.class_names, preprocessing)
        images = torch.cat([data.train_images, data.test_images])
        labels = torch.cat([data.train_labels, data.test_labels])
        split = cnnh_split(labels.numpy(), self.seed)

        def subset(positions) -> InMemoryImages:
            rows = torch.from_numpy(positions)
            return InMemoryImages(images[rows], labels[rows], positions)

        return Splits(
            train=subset(split.train),
            query=subset(split.query),
            database=subset(split.database),
            class_names=data.class_names,
            preprocessing=preprocessing,
        )

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            return training_view(images, self.preprocessing, self.mirror)
        return evaluation_view(images, self.preprocessing)
