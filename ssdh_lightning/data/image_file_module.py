"""What every data set of image files on disk shares: the preprocessing built up front, decoding
(once into memory when the images fit, else in the loader's workers every epoch), skipped files
reported, and the network's view computed on the device a batch at a time.

Subclasses (a folder tree, list files) only say which files form each split and their labels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssdh_lightning.data.base import Batch, RetrievalDataModule, Splits
from ssdh_lightning.data.batch_transforms import evaluation_view, training_view
from ssdh_lightning.data.in_memory import InMemoryImages, stacked_batch
from ssdh_lightning.images.files import ImageFiles, collate_images
from ssdh_lightning.images.skipped import SkippedFiles, SkippedFilesReport
from ssdh_lightning.preprocessing import Preprocessing, normalization_stats

# The small CNN's input for image files (``image_size`` null), which have no native size: large
# enough for its two poolings to leave 16x16 maps, small enough that an epoch of a few thousand
# images takes seconds on a CPU. ssdh-train sets 256/227 for the ImageNet networks
# (``models.backbones.input_size``).
SMALL_INPUT_SIZE = (64, 64)
log = logging.getLogger(__name__)


class ImageFileDataModule(RetrievalDataModule):
    """Image files, each decoded and resized to ``resize`` (or ``image_size``); the random crop
    and mirror of training and the centre crop of evaluation follow on the device.

    When the decoded images of every split take at most ``decoded_cache_mib`` MiB (uint8 at the
    resized size), ``setup`` decodes each file once (in ``num_workers`` workers) and the loaders
    slice batches from memory: no file is decoded again, and no worker moves tensors between
    processes during training. Otherwise the workers decode every epoch. Unreadable files are
    skipped and reported either way.
    """

    def __init__(
        self,
        image_size: tuple[int, int] | None = None,
        resize: tuple[int, int] | None = None,
        mirror: bool = True,
        normalization: str | Mapping | None = "torchvision",
        decoded_cache_mib: float = 2048,
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        mean, std = normalization_stats(normalization, channels=3)
        # Built now, so that wrong sizes or normalisation fail before any file is read.
        self._preprocessing = Preprocessing(3, image_size or SMALL_INPUT_SIZE, mean, std, resize)
        if not isinstance(decoded_cache_mib, int | float) or decoded_cache_mib < 0:
            raise ValueError(
                f"data.decoded_cache_mib must be a number of MiB >= 0 (0: decode every epoch), "
                f"got {decoded_cache_mib!r}"
            )
        self.decoded_cache_mib = decoded_cache_mib
        self.mirror = mirror
        self.skipped = SkippedFiles(self.report_dir)
        self.files: Splits | None = None

    def run_callbacks(self) -> list[L.Callback]:
        return [SkippedFilesReport(self.skipped)]

    def image_files(
        self, path_of: Callable[[int], Path], positions: np.ndarray, labels: np.ndarray
    ) -> ImageFiles:
        """The files at ``positions`` of ``path_of``, with their labels (class ids or multi-hot
        rows), as a data set of decoded images resized for the network."""
        return ImageFiles(path_of, positions, labels, self._preprocessing.resized, channels=3)

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            # the files of each split, whether the loaders then serve them decoded or not
            self.files = self.load_splits()
            self.splits = self._in_memory_if_it_fits(self.files)

    def _in_memory_if_it_fits(self, splits: Splits) -> Splits:
        # a split that serves twice (a folder's training set is its database) is decoded once
        distinct = {id(files): files for files in (splits.train, splits.query, splits.database)}
        height, width = self._preprocessing.stored_size
        mib = sum(map(len, distinct.values())) * 3 * height * width / 2**20
        if mib > self.decoded_cache_mib:
            log.info(
                "the decoded images would take %.1f MiB, more than data.decoded_cache_mib=%s: "
                "they are decoded in the loader's workers every epoch",
                mib,
                self.decoded_cache_mib,
            )
            return splits
        started = time.perf_counter()
        decoded = {key: self._decoded(files) for key, files in distinct.items()}
        log.info(
            "%d images decoded into memory (%.0f MiB) in %.1f s",
            sum(map(len, decoded.values())),
            mib,
            time.perf_counter() - started,
        )
        self.skipped.report("decoding the images into memory")
        return Splits(
            train=decoded[id(splits.train)],
            query=decoded[id(splits.query)],
            database=decoded[id(splits.database)],
            class_names=splits.class_names,
            preprocessing=splits.preprocessing,
        )

    def _decoded(self, files: ImageFiles) -> InMemoryImages:
        """Every readable image of ``files``, in order, as uint8 tensors; the rest is skipped."""
        height, width = self._preprocessing.stored_size
        images = torch.empty((len(files), 3, height, width), dtype=torch.uint8)
        kept: list[torch.Tensor] = []
        filled = 0
        loader = DataLoader(
            files,
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_images,
        )
        for batch_images, _, positions, skipped in loader:
            self.skipped.add(skipped)
            if batch_images is not None:
                images[filled : filled + len(positions)] = batch_images
                filled += len(positions)
                kept.append(positions)
        positions = torch.cat(kept) if kept else torch.empty(0, dtype=torch.int64)
        ids = files.ids[positions.numpy()]
        return InMemoryImages(images[:filled], files.labels[positions], ids)

    def loader_settings(self, dataset: Dataset) -> tuple[Callable | None, int]:
        # batches sliced from memory: workers would only copy them between processes
        if isinstance(dataset, InMemoryImages):
            return stacked_batch, 0
        return collate_images, self.num_workers

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            return training_view(images, self.preprocessing, self.mirror)
        return evaluation_view(images, self.preprocessing)

    def on_after_batch_transfer(self, batch, dataloader_idx: int) -> Batch:
        if not isinstance(batch, Batch):  # decoded by the workers, skipped files apart
            images, labels, positions, skipped = batch
            self.skipped.add(skipped)
            if images is None:  # every file of this batch was skipped
                shape = (0, 3, *self.preprocessing.stored_size)
                images = torch.empty(shape, dtype=torch.uint8, device=labels.device)
            batch = Batch(images, labels, positions)
        return super().on_after_batch_transfer(batch, dataloader_idx)
