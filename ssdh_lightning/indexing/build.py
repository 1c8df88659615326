"""``build_index``: every image under a folder, encoded by a trained model, into an index.

Encoding runs in Lightning's predict loop, so a build uses whatever its trainer options name:
one CPU, one GPU, or several GPUs and nodes through Lightning's DDP, every process writing shards
of what it encoded (``shards.py``). The process of global rank 0 then merges them with the
existing index, if any, into the next generation of the index (``retrieval.index``).

A build is resumable and incremental: files whose path, size and mtime are in the existing index
are kept without encoding them again, files already in shards of an interrupted build are not
encoded again, and files that are gone or changed leave the index.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.images.skipped import SkippedFiles
from ssdh_lightning.indexing.checkpoint import check_checkpoint, model_identity
from ssdh_lightning.indexing.encoding import (
    ImageEncoder,
    ImagesProgressBar,
    ShardWriter,
    image_loader,
)
from ssdh_lightning.indexing.files import FileKey, ImageList, file_keys, list_images, scan_images
from ssdh_lightning.indexing.lock import build_lock, is_first_process
from ssdh_lightning.indexing.shards import ShardContents, ShardFolder, work_folder, work_root
from ssdh_lightning.io import file_sha256
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval.chunks import rows_per_chunk
from ssdh_lightning.retrieval.index import Index, existing_index
from ssdh_lightning.retrieval.index_writer import IndexWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """The folder as scanned now against the existing index."""

    files: ImageList
    keys: list[FileKey]  # of ``files``
    kept: np.ndarray  # rows of the existing index whose files are unchanged, ascending
    kept_files: np.ndarray  # the positions of those files in ``files``
    todo: np.ndarray  # positions in ``files`` of the files to encode, in scan order

    def up_to_date(self, base: Index | None) -> bool:
        """Every file is in ``base`` unchanged, with the same labels (a list file's vectors can
        change while its files do not)."""
        if base is None or len(self.todo) or len(self.kept) != len(base):
            return False
        same_classes = base.class_names == self.files.class_names
        labels = self.files.labels[self.kept_files]
        return same_classes and np.array_equal(base.labels[self.kept], labels)

    def encoded_in(self, encoded: ShardContents) -> np.ndarray:
        """The positions in ``todo`` whose files ``encoded`` holds, in scan order."""
        held = [p for p in self.todo if self.keys[p] in encoded.rows]
        return np.array(held, dtype=np.int64)


def plan_build(files: ImageList, base: Index | None) -> Plan:
    keys = files.keys()
    position = {key: i for i, key in enumerate(keys)}
    base_keys = (
        [] if base is None else file_keys(base.paths.tolist(), base.file_sizes, base.file_mtimes_ns)
    )
    kept = [row for row, key in enumerate(base_keys) if key in position]
    kept_files = np.array([position[base_keys[row]] for row in kept], dtype=np.int64)
    unchanged = np.zeros(len(files), dtype=bool)
    unchanged[kept_files] = True
    return Plan(files, keys, np.array(kept, dtype=np.int64), kept_files, np.flatnonzero(~unchanged))


def _check_images_root(base: Index, root: Path) -> None:
    recorded = Path(base.manifest["images_root"])
    if recorded != root.resolve():
        raise ValueError(
            f"the index at {base.folder} holds the images of {recorded}, not of {root.resolve()}; "
            f"pass images={recorded} to update it, or give the new folder its own index "
            "(out=NEW_FOLDER)"
        )


def _trainer(options: dict[str, Any], files: ImageList, shards: ShardFolder) -> L.Trainer:
    callbacks: list[L.Callback] = [ShardWriter(files, shards)]
    if options.get("enable_progress_bar", True):
        callbacks.append(ImagesProgressBar())
    return L.Trainer(
        **options,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )


def build_index(
    ckpt_path: str | Path,
    images: str | Path,
    out: str | Path,
    *,
    batch_size: int = 256,
    num_workers: int = 4,
    trainer_options: dict[str, Any] | None = None,
    report_dir: str | Path | None = None,
    list_file: str | Path | None = None,
) -> Index | None:
    """Encode every image file under ``images`` (any depth; labels from the folders directly
    under it) with the checkpoint's model into the index folder ``out``, or bring that index up
    to date with the folder. Returns the index on the process of global rank 0, None on others.

    ``list_file``: index the images that this list file names instead (``path 0 1 0 ...``,
    as ``data=list`` reads it; relative to ``images`` or absolute), labelled by its vectors:
    class ids when every vector is one-hot, multi-hot labels otherwise.

    ``trainer_options``: keyword arguments of ``lightning.Trainer`` (``accelerator``,
    ``devices``, ``num_nodes``, ``strategy``, ``precision``, ``enable_progress_bar``, ...).
    Unreadable files are left out and listed in ``report_dir/skipped_files.tsv``. Resume state
    lives in ``<out>.work/``, which must be shared by every node of a multi-node build; it
    also holds the lock that refuses a second build of the same index while this one runs
    (``IndexLocked``).
    """
    ckpt_path, images, out = Path(ckpt_path), Path(images), Path(out)
    with build_lock(work_root(out), out):
        files = list_images(images, list_file) if list_file is not None else scan_images(images)
        options = (batch_size, num_workers, trainer_options, report_dir)
        return _build(ckpt_path, images, files, out, *options)


def _build(
    ckpt_path: Path,
    images: Path,
    files: ImageList,
    out: Path,
    batch_size: int,
    num_workers: int,
    trainer_options: dict[str, Any] | None,
    report_dir: str | Path | None,
) -> Index | None:
    sha256 = file_sha256(ckpt_path) if ckpt_path.is_file() else None
    base = existing_index(out)
    if base is not None:  # before loading the model: these checks are cheap and say more
        check_checkpoint(base, ckpt_path, sha256)
        _check_images_root(base, images)
    model = load_module(ckpt_path)
    plan = plan_build(files, base)
    skipped = SkippedFiles(report_dir)
    skipped.add(plan.files.skipped)
    shards = ShardFolder(work_folder(out, sha256))
    if plan.up_to_date(base):
        skipped.report(f"the scan of {images}")
        log.info("the index at %s is up to date: %d images of %s", out, len(base), images)
        if is_first_process():
            shutil.rmtree(shards.folder.parent, ignore_errors=True)
        return base
    remaining = np.setdiff1d(plan.todo, plan.encoded_in(shards.encoded()))
    to_encode = plan.files.subset(remaining)
    trainer = _trainer(dict(trainer_options or {}), to_encode, shards)
    if trainer.is_global_zero:
        _log_plan(plan, base, len(remaining), shards)
    if len(remaining):
        shards.folder.mkdir(parents=True, exist_ok=True)
        loader = image_loader(to_encode.path, len(to_encode), model, batch_size, num_workers)
        _encode(trainer, ImageEncoder(model, to_encode.path), loader)
    trainer.strategy.barrier("every process has written its shards")
    if not trainer.is_global_zero:
        return None
    index = _write_index(plan, base, shards, model, ckpt_path, sha256, out, skipped)
    shutil.rmtree(shards.folder.parent, ignore_errors=True)
    return index


def _encode(trainer: L.Trainer, encoder: ImageEncoder, loader) -> None:
    try:
        trainer.predict(encoder, loader, return_predictions=False)
    except SystemExit:
        # Lightning answers Ctrl-C with a graceful shutdown and sys.exit(1); it stays an
        # interruption, which ssdh-index reports with how to resume
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise


def _log_plan(plan: Plan, base: Index | None, remaining: int, shards: ShardFolder) -> None:
    removed = 0 if base is None else len(base) - len(plan.kept)
    log.info(
        "%d image files under %s: %d unchanged in the index, %d new or changed, %d removed",
        len(plan.files),
        plan.files.root,
        len(plan.kept),
        len(plan.todo),
        removed,
    )
    if remaining < len(plan.todo):
        log.info(
            "resuming: %d of the %d new or changed files are already encoded in %s",
            len(plan.todo) - remaining,
            len(plan.todo),
            shards.folder,
        )


def _encoded_files(plan: Plan, encoded: ShardContents, unreadable: SkippedFiles) -> np.ndarray:
    """The positions of the new files that were encoded; raises when some were not reached."""
    files = plan.files
    new = plan.encoded_in(encoded)
    missing = []
    for p in np.setdiff1d(plan.todo, new):
        path = str(files.path(p))
        if path in encoded.skipped:
            unreadable.add([(path, encoded.skipped[path])])
        else:
            missing.append(path)
    unreadable.report(f"indexing {files.root}")
    if missing:
        raise RuntimeError(
            f"the build stopped before encoding {len(missing)} of the {len(plan.todo)} new files "
            f"(e.g. {missing[0]}); run the same command again to resume it: what was encoded is "
            "kept beside the index, in its .work folder"
        )
    if len(plan.kept) + len(new) == 0:
        raise ValueError(
            f"none of the {len(files)} image files under {files.root} could be read, so there is "
            "nothing to index; fix or replace those files (skipped_files.tsv in the report "
            "folder, when one is given, says why for each)"
        )
    return new


def _copy_kept(base: Index, kept: np.ndarray, writer: IndexWriter) -> None:
    step = rows_per_chunk(base.codes.bytes.shape[1] + 2 * base.feature_dim)
    for start in range(0, len(kept), step):
        rows = kept[start : start + step]
        writer.codes[start : start + len(rows)] = base.codes.bytes[rows]
        writer.features[start : start + len(rows)] = base.features[rows]


def _copy_encoded(
    keys: list[FileKey],
    new: np.ndarray,
    first_row: int,
    encoded: ShardContents,
    writer: IndexWriter,
) -> None:
    """Scatter the shards' rows into the index, one shard in memory at a time."""
    by_shard: dict[Path, tuple[list[int], list[int]]] = {}
    for row, position in enumerate(new, start=first_row):
        shard, shard_row = encoded.rows[keys[position]]
        shard_rows, index_rows = by_shard.setdefault(shard, ([], []))
        shard_rows.append(shard_row)
        index_rows.append(row)
    for shard, (shard_rows, index_rows) in by_shard.items():
        codes, features = ShardFolder.read(shard)
        writer.codes[index_rows] = codes[shard_rows]
        writer.features[index_rows] = features[shard_rows]


def _write_index(
    plan: Plan,
    base: Index | None,
    shards: ShardFolder,
    model: SSDHModule,
    ckpt_path: Path,
    sha256: str,
    out: Path,
    skipped: SkippedFiles,
) -> Index:
    """The next generation of the index: its unchanged rows, which keep their ids, then the new
    files in scan order, with new ids."""
    encoded = shards.encoded()
    new = _encoded_files(plan, encoded, skipped)
    rows = plan.files.subset(np.concatenate([plan.kept_files, new]))
    metadata = {
        "class_names": plan.files.class_names,
        "images_root": str(plan.files.root.resolve()),
        "preprocessing": model.preprocessing.as_dict(),
        "model": model_identity(ckpt_path, model.hparams, sha256),
    }
    with IndexWriter(out, len(rows), model.hash_bits, model.backbone.feature_dim) as writer:
        if base is not None:
            _copy_kept(base, plan.kept, writer)
        _copy_encoded(plan.keys, new, len(plan.kept), encoded, writer)
        kept_ids = base.ids[plan.kept] if base is not None else np.empty(0, dtype=np.int64)
        new_ids = np.arange(writer.next_id, writer.next_id + len(new), dtype=np.int64)
        index = writer.commit(
            ids=np.concatenate([kept_ids, new_ids]),
            labels=rows.labels,
            paths=rows.paths,
            file_sizes=rows.file_sizes,
            file_mtimes_ns=rows.file_mtimes_ns,
            metadata=metadata,
        )
    log.info(
        "wrote the index %s: %d images (%d kept, %d added), %d-bit codes, %d features",
        out,
        len(index),
        len(plan.kept),
        len(new),
        index.hash_bits,
        index.feature_dim,
    )
    return index
