"""What every data set of image files on disk shares: the preprocessing built up front, decoding
in the loader's workers, skipped files reported, and the training view computed on the device.

Subclasses (a folder tree, list files) only say which files form each split and their labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ssdh_lightning.data.base import Batch, RetrievalDataModule
from ssdh_lightning.data.batch_transforms import training_view
from ssdh_lightning.images.files import ImageFiles, collate_images
from ssdh_lightning.images.skipped import SkippedFiles, SkippedFilesReport
from ssdh_lightning.preprocessing import Preprocessing, normalization_stats


class ImageFileDataModule(RetrievalDataModule):
    """Image files decoded by the loader's workers: the training view is the image resized to
    ``resize`` (random crop and mirror follow on the device, a batch at a time), the evaluation
    view is ``Preprocessing.prepare`` itself. Unreadable files are skipped and reported."""

    collate_fn = staticmethod(collate_images)

    def __init__(
        self,
        image_size: tuple[int, int] = (227, 227),
        resize: tuple[int, int] | None = (256, 256),
        mirror: bool = True,
        normalization: str = "torchvision",
        **loader_options,
    ) -> None:
        super().__init__(**loader_options)
        mean, std = normalization_stats(normalization, channels=3)
        # Built now, so that wrong sizes or normalisation fail before any file is read.
        self._preprocessing = Preprocessing(3, image_size, mean, std, resize)
        self.mirror = mirror
        self.skipped = SkippedFiles(self.report_dir)

    def run_callbacks(self) -> list[L.Callback]:
        return [SkippedFilesReport(self.skipped)]

    def image_files(
        self,
        path_of: Callable[[int], Path],
        positions: np.ndarray,
        labels: np.ndarray,
        training: bool,
    ) -> ImageFiles:
        """The files at ``positions`` of ``path_of`` as a data set of the training view (resized
        only) or the evaluation view."""
        view = self._preprocessing.resized if training else self._preprocessing.prepare
        return ImageFiles(path_of, positions, labels, view, channels=3)

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        # The workers resized training images and prepared evaluation images already.
        return training_view(images, self.preprocessing, self.mirror) if training else images

    def on_after_batch_transfer(self, batch, dataloader_idx: int) -> Batch:
        images, labels, positions, skipped = batch
        self.skipped.add(skipped)
        if images is None:  # every file of this batch was skipped
            shape = (0, 3, *self.preprocessing.image_size)
            images = torch.empty(shape, dtype=torch.uint8, device=labels.device)
        return super().on_after_batch_transfer(Batch(images, labels, positions), dataloader_idx)
