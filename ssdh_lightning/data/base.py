"""The data module every data set shares: train, query and database sets and their loaders."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssdh_lightning.preprocessing import Preprocessing

QUERY, DATABASE = 0, 1  # positions of the validation loaders


MAX_AUTO_WORKERS = 8


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def loader_workers(num_workers: int | str) -> int:
    """``data.num_workers``: a count, or ``auto``: one worker per CPU this process may use (at
    most ``MAX_AUTO_WORKERS``), so that decoding neither idles cores nor crowds them."""
    if num_workers == "auto":
        return min(MAX_AUTO_WORKERS, available_cpus())
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"data.num_workers must be an integer >= 0 or auto, got {num_workers!r}")
    return num_workers


class Batch(NamedTuple):
    """What every loader yields: uint8 images (B, C, H, W), labels, and each item's position in
    its data set (so that evaluation sets can be put back in data set order, once each)."""

    images: torch.Tensor
    labels: torch.Tensor
    positions: torch.Tensor


class TrainingItems(NamedTuple):
    """What a method that keeps a row per training item is told of them, by position."""

    labels: torch.Tensor  # (N,) class ids or (N, num_classes) multi-hot rows
    keys: torch.Tensor  # (N,) int64: images.files.path_key of each item's file, 0 without one


@dataclass
class Splits:
    """The three sets of PROTOCOL.md; the training set may be the database itself. Each set
    has ``labels`` (a tensor, one row per item). No ``class_names``: data without labels.

    ``database_training_positions``: each database item's position in the training set, -1 for
    one not trained on; None: every item where the training set is the database, else none."""

    train: Dataset
    query: Dataset
    database: Dataset
    class_names: list[str]
    preprocessing: Preprocessing
    database_training_positions: np.ndarray | None = None

    @property
    def sizes(self) -> dict[str, int]:
        """How many items each set holds (run.json's ``split_sizes``)."""
        return {"train": len(self.train), "query": len(self.query), "database": len(self.database)}


class RetrievalDataModule(L.LightningDataModule):
    """Subclasses load their data in ``load_splits``; this class serves it.

    Validation has two loaders, queries then database; neither shuffles nor drops an item, so
    every database item is ranked. Data without labels has none: retrieval cannot be scored.
    ``setup`` may be called before the trainer does (the model needs ``num_classes``,
    ``train_size`` and ``preprocessing``); it loads once.
    """

    collate_fn = None  # the DataLoader default; in-memory data sets serve stacked batches
    # The data set's name in run.json and reports, the same however the run was started.
    name = "data"

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        num_workers: int | str = 0,
        seed: int = 0,
        report_dir: str | Path | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{name} must be a positive integer, got {value!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"data.drop_last must be true or false, got {drop_last!r}; e.g. data.drop_last=true"
            )
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.eval_batch_size = eval_batch_size
        self.num_workers = loader_workers(num_workers)
        self.seed = seed
        # The run's folder, for what a data set reports of itself (skipped files): a setting of
        # the run, given by the tasks, not of the data, so checkpoints do not keep it.
        self.report_dir = Path(report_dir) if report_dir is not None else None
        self.splits: Splits | None = None

    def load_splits(self) -> Splits:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.load_splits()

    def _loaded(self) -> Splits:
        if self.splits is None:
            raise RuntimeError("call setup() before asking the data module for its data")
        return self.splits

    @property
    def num_classes(self) -> int:
        return len(self._loaded().class_names)

    @property
    def class_names(self) -> list[str]:
        return self._loaded().class_names

    @property
    def labelled(self) -> bool:
        """Whether the data has labels; without, a method that uses none trains on it and
        retrieval is not scored."""
        return self.num_classes > 0

    @property
    def train_size(self) -> int:
        return len(self._loaded().train)

    def training_items(self) -> TrainingItems:
        """The training set's labels and its items' keys (0: items that are not files)."""
        train = self._loaded().train
        return TrainingItems(train.labels, torch.zeros(len(train), dtype=torch.int64))

    def database_training_positions(self) -> np.ndarray:
        """Each database item's position in the training set, -1 for an item not trained on:
        every item where the training set is the database (the ``paper`` protocol), a subset
        under ``cnnh`` and list files."""
        splits = self._loaded()
        if splits.database_training_positions is not None:
            return splits.database_training_positions
        if splits.train is splits.database:
            return np.arange(len(splits.database))
        return np.full(len(splits.database), -1)

    @property
    def preprocessing(self) -> Preprocessing:
        return self._loaded().preprocessing

    def loader_settings(self, dataset: Dataset) -> tuple[Callable | None, int]:
        """(collate function, number of workers) of the loaders of ``dataset``."""
        return self.collate_fn, self.num_workers

    def _loader(self, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if train else None
        collate_fn, workers = self.loader_settings(dataset)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train and self.drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
            collate_fn=collate_fn,
            generator=generator,
        )

    def train_dataloader(self) -> DataLoader:
        train = self._loaded().train
        if self.drop_last and len(train) < self.batch_size:
            raise ValueError(
                f"data.drop_last=true with data.batch_size={self.batch_size} and {len(train)} "
                "training items: every batch is incomplete and would be left out, nothing would "
                f"train; set data.drop_last=false or data.batch_size={len(train)} or less"
            )
        return self._loader(train, self.batch_size, train=True)

    def val_dataloader(self) -> list[DataLoader]:
        splits = self._loaded()
        if not self.labelled:  # nothing to score retrieval by: no validation
            return []
        return [
            self._loader(splits.query, self.eval_batch_size, train=False),
            self._loader(splits.database, self.eval_batch_size, train=False),
        ]

    def query_ids(self, positions: np.ndarray) -> np.ndarray:
        """The ids of the queries at ``positions`` of the query set (an evaluation's
        ``query.positions``): each one's index in the data set as published, so that two runs of
        one data set and protocol pair query by query. A query set without ``ids`` (a data set
        of one's own) gives the positions themselves."""
        ids = getattr(self._loaded().query, "ids", None)
        positions = np.asarray(positions, dtype=np.int64)
        return positions if ids is None else np.asarray(ids, dtype=np.int64)[positions]

    def run_callbacks(self) -> list[L.Callback]:
        """Callbacks this data set needs on the trainer (``runs`` adds them); none by default."""
        return []

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        """The view the model sees of a whole uint8 batch, on its device: the training view
        (augmented) or the evaluation view of queries and database. Identity by default."""
        return images

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        training = self.trainer is not None and self.trainer.training
        return batch._replace(images=self.transform_batch(batch.images, training))
