"""What an unfinished build has encoded so far: one shard file per batch, written atomically by
whichever process encoded the batch, in a work folder beside the index.

A shard names its files by relative path, size and mtime, not by a position in some list, so
shards from an interrupted run, another number of processes or an earlier state of the folder
are used only for files that are still the same, and never mixed up.
"""

from __future__ import annotations

import logging
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssdh_lightning.images.files import Skipped
from ssdh_lightning.indexing.files import FileKey, ImageList, file_keys
from ssdh_lightning.io import atomic_write

log = logging.getLogger(__name__)
SHARD_SUFFIX = ".npz"


def work_root(index_folder: Path) -> Path:
    """``<index>.work/``: beside the index (on the same file system, shared by every process of
    a multi-node build); it holds the build's lock and the shards."""
    return index_folder.with_name(index_folder.name + ".work")


def work_folder(index_folder: Path, checkpoint_sha256: str) -> Path:
    """``<index>.work/<checkpoint id>/``: one subfolder per model so codes never mix."""
    return work_root(index_folder) / checkpoint_sha256[:16]


@dataclass(frozen=True)
class ShardContents:
    """Where each encoded file lies among the shards, and the files that could not be read."""

    rows: dict[FileKey, tuple[Path, int]]  # (shard file, row in it)
    skipped: dict[str, str]  # full path -> reason


class ShardFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(
        self,
        files: ImageList,
        codes: np.ndarray,
        features: np.ndarray,
        skipped: list[Skipped],
    ) -> Path:
        """One batch: ``files`` with their packed codes and float16 features, and the files of
        the batch that could not be decoded."""
        arrays = {
            "paths": np.array(files.paths.tolist(), dtype=str),
            "file_sizes": files.file_sizes,
            "file_mtimes_ns": files.file_mtimes_ns,
            "codes": codes,
            "features": features,
            "skipped_paths": np.array([item.path for item in skipped], dtype=str),
            "skipped_reasons": np.array([item.reason for item in skipped], dtype=str),
        }
        path = self.folder / f"{uuid.uuid4().hex}{SHARD_SUFFIX}"
        return atomic_write(path, lambda stream: np.savez(stream, **arrays))

    def encoded(self) -> ShardContents:
        """Every file the shards hold. A shard that cannot be read (it should not happen: each
        is written atomically) is left out, and its files are encoded again."""
        rows: dict[FileKey, tuple[Path, int]] = {}
        skipped: dict[str, str] = {}
        for shard in sorted(self.folder.glob(f"*{SHARD_SUFFIX}")):
            try:
                with np.load(shard, allow_pickle=False) as arrays:
                    keys = file_keys(
                        arrays["paths"].tolist(), arrays["file_sizes"], arrays["file_mtimes_ns"]
                    )
                    reasons = zip(arrays["skipped_paths"], arrays["skipped_reasons"], strict=True)
                    shard_skipped = {str(path): str(reason) for path, reason in reasons}
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                log.warning("ignoring the unreadable shard %s (%s)", shard, error)
                continue
            for row, key in enumerate(keys):
                rows.setdefault(key, (shard, row))
            skipped.update(shard_skipped)
        return ShardContents(rows, skipped)

    @staticmethod
    def read(shard: Path) -> tuple[np.ndarray, np.ndarray]:
        """(codes, features) of one shard."""
        with np.load(shard, allow_pickle=False) as arrays:
            return arrays["codes"], arrays["features"]
