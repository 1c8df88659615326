"""Image files through a trained model: a loader of prepared images, the encoding of a batch, and
the pieces that run it in Lightning's predict loop (a shard writer, a progress bar in images)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, ProgressBar
from torch.utils.data import DataLoader
from tqdm import tqdm

from ssdh_lightning.images.files import ImageFiles, Skipped, collate_images
from ssdh_lightning.indexing.files import ImageList
from ssdh_lightning.indexing.shards import ShardFolder
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval import pack_codes


class EncodedFiles(NamedTuple):
    """The files of a batch that were decoded, by position in the loader's list, with their
    packed codes and float16 features (as the index stores them); and those that were not."""

    positions: np.ndarray  # int64
    codes: np.ndarray  # (n, ceil(hash_bits / 8)) uint8
    features: np.ndarray  # (n, feature_dim) float16
    skipped: list[Skipped]


def image_loader(
    path_of: Callable[[int], Path],
    count: int,
    model: SSDHModule,
    batch_size: int,
    num_workers: int,
) -> DataLoader:
    """Files ``path_of(0 .. count - 1)`` decoded in the workers and prepared as the model's
    checkpoint says (``Preprocessing.prepare``: its channels, size and centre crop)."""
    dataset = ImageFiles(
        path_of,
        positions=np.arange(count),
        labels=np.full(count, -1),  # an index takes its labels from the folders, not from here
        view=model.preprocessing.prepare,
        channels=model.preprocessing.channels,
    )
    return DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_images
    )


def encode_batch(
    model: SSDHModule, batch, database_path_of: Callable[[int], Path] | None = None
) -> EncodedFiles:
    """A batch of ``image_loader`` through the model. ``database_path_of`` (the loader's
    ``path_of``) for the items of a database: their codes are those a database gets
    (``SSDHModule.database_codes_of_files``: ADSH's learned codes for its training images)."""
    images, _, positions, skipped = batch
    if images is None:  # every file of the batch was unreadable
        code_bytes = (model.hash_bits + 7) // 8
        return EncodedFiles(
            np.empty(0, dtype=np.int64),
            np.empty((0, code_bytes), dtype=np.uint8),
            np.empty((0, model.backbone.feature_dim), dtype=np.float16),
            skipped,
        )
    encoded = model.encode(images)
    codes = encoded.codes
    if database_path_of is not None:
        paths = [database_path_of(int(position)) for position in positions]
        codes = model.database_codes_of_files(codes, paths)
    with np.errstate(over="ignore"):  # an overflow becomes inf, which check_finite reports
        features = encoded.features.float().cpu().numpy().astype(np.float16)
    return EncodedFiles(positions.cpu().numpy(), pack_codes(codes).bytes, features, skipped)


def check_finite(features: np.ndarray, paths: Sequence[str | Path]) -> None:
    """Refuse float16 ``features`` of the files ``paths`` that are not all finite: NaN or inf
    from the model, or values past float16's range (65504), which the cast made inf. Such a row
    would have no meaningful distance to anything, so nothing is written with it."""
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad.size:
        raise ValueError(
            f"the model gives features that are not finite (NaN, inf, or beyond float16's range "
            f"of +-{float(np.finfo(np.float16).max):.0f}, where an index keeps them) for "
            f"{bad.size} of the {len(features)} images encoded together, the first "
            f"{paths[bad[0]]}; the checkpoint is broken or its activations overflow: train it "
            "again or use another one"
        )


def encode_files(model: SSDHModule, paths: list[Path], batch_size: int = 64) -> EncodedFiles:
    """A few files (queries) encoded in this process, without a trainer."""
    loader = image_loader(paths.__getitem__, len(paths), model, batch_size, num_workers=0)
    with torch.inference_mode():
        batches = [encode_batch(model, batch) for batch in loader]
    encoded = EncodedFiles(
        np.concatenate([batch.positions for batch in batches]),
        np.concatenate([batch.codes for batch in batches]),
        np.concatenate([batch.features for batch in batches]),
        [item for batch in batches for item in batch.skipped],
    )
    check_finite(encoded.features, [paths[i] for i in encoded.positions])
    return encoded


class ImageEncoder(L.LightningModule):
    """The trained module in Lightning's predict loop: a batch of the database files that
    ``path_of`` names in, ``EncodedFiles`` out."""

    def __init__(self, model: SSDHModule, path_of: Callable[[int], Path]) -> None:
        super().__init__()
        self.model = model
        self.path_of = path_of

    def predict_step(self, batch, batch_idx: int) -> EncodedFiles:
        return encode_batch(self.model, batch, database_path_of=self.path_of)


class ShardWriter(BasePredictionWriter):
    """Writes every predicted batch as a shard, on whichever process encoded it."""

    def __init__(self, files: ImageList, shards: ShardFolder) -> None:
        super().__init__(write_interval="batch")
        self.files = files
        self.shards = shards

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: EncodedFiles,
        batch_indices,
        batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        files = self.files.subset(prediction.positions)
        check_finite(prediction.features, [files.path(i) for i in range(len(files))])
        self.shards.write(files, prediction.codes, prediction.features, prediction.skipped)


class ImagesProgressBar(ProgressBar):
    """The predict loop's progress in images: images per second and the time left."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.bar: tqdm | None = None

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled:
            return
        batch_sampler = trainer.predict_dataloaders.batch_sampler  # this process's share
        batches = trainer.num_predict_batches[0]  # fewer with trainer.limit_predict_batches
        images = min(len(batch_sampler.sampler), batches * batch_sampler.batch_size)
        where = f" (process 1 of {trainer.world_size})" if trainer.world_size > 1 else ""
        self.bar = tqdm(total=images, unit="img", desc=f"Encoding{where}", smoothing=0.05)

    def on_predict_batch_end(
        self, trainer, pl_module, outputs: EncodedFiles, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if self.bar is not None:
            self.bar.update(len(outputs.positions) + len(outputs.skipped))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
