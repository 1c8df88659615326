"""scikit-learn's 8x8 digits: the built-in data set that needs no download."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from ssdh_lightning.data.base import RetrievalDataModule, Splits
from ssdh_lightning.data.in_memory import InMemoryImages, stacked_batch
from ssdh_lightning.data.splits import check_query_fraction, stratified_split
from ssdh_lightning.preprocessing import Preprocessing

# Pixel statistics of all 1,797 images scaled to [0, 1].
DIGITS_MEAN, DIGITS_STD = 0.3053, 0.3759


class DigitsDataModule(RetrievalDataModule):
    """1,797 grey 8x8 images of 10 digits; a seeded, stratified ``query_fraction`` are queries,
    the rest are the database and the training set (the ``paper`` protocol)."""

    collate_fn = staticmethod(stacked_batch)
    name = "digits"

    def __init__(self, query_fraction: float = 0.2, **loader_options) -> None:
        super().__init__(**loader_options)
        self.query_fraction = check_query_fraction(query_fraction)

    def load_splits(self) -> Splits:
        digits = load_digits()
        # Values are 0..16; scale them to 0..255 like every other image.
        images = torch.from_numpy(np.round(digits.images * 255 / 16).astype(np.uint8))[:, None]
        labels = torch.from_numpy(digits.target.astype(np.int64))
        query, database = stratified_split(digits.target, self.query_fraction, self.seed)
        # ids: each image's index in scikit-learn's set
        database_set = InMemoryImages(images[database], labels[database], database)
        return Splits(
            train=database_set,
            query=InMemoryImages(images[query], labels[query], query),
            database=database_set,
            class_names=[str(d) for d in range(10)],
            preprocessing=Preprocessing(
                channels=1, image_size=(8, 8), mean=(DIGITS_MEAN,), std=(DIGITS_STD,)
            ),
        )
