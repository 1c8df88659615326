"""Writing an index's next generation: arrays allocated on disk first, filled, flushed, then
named by a new manifest (the format is described in ``index.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from ssdh_lightning.io import (
    atomic_write,
    file_sha256,
    is_out_of_space,
    no_space_error,
    write_json,
)
from ssdh_lightning.retrieval.backends import BACKEND_FILE
from ssdh_lightning.retrieval.index import (
    ARRAY_DTYPES,
    ARRAY_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    RESERVED_KEYS,
    TEMPORARY_FILE,
    Index,
    array_dtype,
    array_file,
    check_index_folder,
    class_id_problem,
    manifest_problem,
    read_manifest,
)
from ssdh_lightning.strings import PackedStrings


class IndexWriter:
    """Writes the next generation of the index at ``folder`` and commits it.

    Fill ``codes`` (packed uint8) and ``features`` (float16), memory-mapped files of
    ``count`` rows, in any order and chunk by chunk, then ``commit`` the small arrays and the
    metadata. Used as a context manager, an exception before ``commit`` removes what was written.
    """

    def __init__(self, folder: str | Path, count: int, hash_bits: int, feature_dim: int) -> None:
        if count < 1:
            raise ValueError(f"an index holds at least one item, got count={count}")
        self.folder = Path(folder)
        previous = None
        if self.folder.exists():
            check_index_folder(self.folder)
            if (self.folder / MANIFEST_FILE).exists():
                previous = read_manifest(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.generation = previous["generation"] + 1 if previous else 1
        # the first id this generation may give a new item (format 1: ids were rows)
        self.next_id = previous.get("next_id", previous["count"]) if previous else 0
        self.count, self.hash_bits, self.feature_dim = count, hash_bits, feature_dim
        codes_shape, features_shape = (count, (hash_bits + 7) // 8), (count, feature_dim)
        try:
            self.codes = self._allocate("codes", codes_shape)
            self.features = self._allocate("features", features_shape)
        except BaseException as error:
            self.discard()  # first, so that the free space a full disk reports is what there is
            if not is_out_of_space(error):
                raise
            needed = np.prod(codes_shape) + 2 * np.prod(features_shape)
            what = f"generation {self.generation} of the index {self.folder}"
            raise no_space_error(what, self.folder, error, int(needed)) from None

    def _allocate(self, name: str, shape: tuple[int, int]) -> np.memmap:
        """A memory-mapped array on a file whose every block is allocated first: a full disk is
        then an OSError here, not a SIGBUS when a page of the map is written."""
        path = self._path(name)
        array = open_memmap(path, "w+", ARRAY_DTYPES[name], shape)
        with open(path, "rb+") as stream:
            os.posix_fallocate(stream.fileno(), 0, path.stat().st_size)
        return array

    def _path(self, name: str) -> Path:
        return self.folder / array_file(name, self.generation)

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.discard()

    def discard(self) -> None:
        """Remove this generation's files; the committed index, if any, is untouched."""
        self.codes = self.features = None
        for name in ARRAY_DTYPES:
            self._path(name).unlink(missing_ok=True)

    def commit(
        self,
        *,
        labels: np.ndarray,
        paths: PackedStrings,
        file_sizes: np.ndarray,
        file_mtimes_ns: np.ndarray,
        metadata: dict[str, Any],
        ids: np.ndarray | None = None,
    ) -> Index:
        """Write the small arrays, then the manifest that makes this generation the index;
        remove the files of earlier generations. Returns the index, loaded back and checked.

        ``labels``: class ids (count,), -1 for none, or multi-hot rows (count, classes) of 0/1,
        one column per name of ``metadata["class_names"]``.

        ``ids``: the items' ids, ascending: the previous generation's ids of the items it keeps,
        then ids from ``next_id`` up for new items; default: every item is new."""
        clash = sorted(set(metadata) & set(RESERVED_KEYS))
        if clash:
            raise ValueError(f"metadata may not set the index's own fields {clash}")
        if ids is None:
            ids = np.arange(self.next_id, self.next_id + self.count, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids[0] < 0 or np.any(np.diff(ids) <= 0)):
            raise ValueError(
                "ids must ascend strictly from 0 or more: the kept items' previous ids in their "
                "previous order, then new ids from IndexWriter.next_id"
            )
        kind = _label_kind(labels, metadata)
        if kind == "class_ids" and (
            problem := class_id_problem(np.asarray(labels), metadata.get("class_names") or [])
        ):
            raise ValueError(f"{problem}: give every class a name in metadata['class_names']")
        small = {
            "labels": labels,
            "ids": ids,
            "paths_buffer": paths.buffer,
            "paths_offsets": paths.offsets,
            "file_sizes": file_sizes,
            "file_mtimes_ns": file_mtimes_ns,
        }
        shapes = {"codes": self.codes.shape, "features": self.features.shape}
        for name, array in small.items():
            rows = len(array) - (name == "paths_offsets")
            if name != "paths_buffer" and rows != self.count:
                raise ValueError(f"{name} describes {rows} items, but the index holds {self.count}")
            array = np.ascontiguousarray(array, dtype=array_dtype(name, kind))
            atomic_write(self._path(name), lambda stream, array=array: np.save(stream, array))
            shapes[name] = array.shape
        self.codes.flush()
        self.features.flush()
        self.codes = self.features = None  # unmapped before the files are synced and hashed
        for name in ("codes", "features"):
            with open(self._path(name), "rb+") as stream:
                os.fsync(stream.fileno())
        manifest = {
            **metadata,
            "format_version": FORMAT_VERSION,
            "generation": self.generation,
            "hash_bits": self.hash_bits,
            "feature_dim": self.feature_dim,
            "count": self.count,
            "next_id": max(self.next_id, int(ids[-1]) + 1),
            "label_kind": kind,
            "arrays": {name: self._record(name, shapes[name], kind) for name in ARRAY_DTYPES},
        }
        problem = manifest_problem(manifest)
        if problem is not None:  # the metadata: the rest is this writer's own
            raise ValueError(f"the metadata cannot go into an index's manifest: {problem}")
        write_json(self.folder / MANIFEST_FILE, manifest)
        self._remove_unreferenced(manifest)
        return Index.load(self.folder)

    def _record(self, name: str, shape: tuple[int, ...], kind: str) -> dict[str, Any]:
        path = self._path(name)
        return {
            "file": path.name,
            "dtype": array_dtype(name, kind).name,
            "shape": list(shape),
            "sha256": file_sha256(path),
        }

    def _remove_unreferenced(self, manifest: dict[str, Any]) -> None:
        """Earlier generations' arrays, and their FAISS backends (built of codes now gone)."""
        referenced = {record["file"] for record in manifest["arrays"].values()}
        for entry in self.folder.iterdir():
            backend = BACKEND_FILE.match(entry.name)
            stale = (ARRAY_FILE.match(entry.name) and entry.name not in referenced) or (
                backend and int(backend.group(2)) != self.generation
            )
            if stale or TEMPORARY_FILE.match(entry.name):
                entry.unlink(missing_ok=True)


def _label_kind(labels: np.ndarray, metadata: dict[str, Any]) -> str:
    """``"class_ids"`` for labels (count,), ``"multi_hot"`` for 0/1 rows, one per class name."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return "class_ids"
    names = metadata.get("class_names", [])
    if labels.ndim != 2 or labels.shape[1] != len(names) or not names:
        raise ValueError(
            f"labels of shape {labels.shape} are neither class ids (count,) nor multi-hot rows "
            f"(count, classes) of the {len(names)} metadata['class_names']"
        )
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("multi-hot labels must be 0 or 1, one column per class")
    return "multi_hot"
