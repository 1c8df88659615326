"""A persisted index: the codes, features and labels of a collection, and which file each row is.

On disk, a folder::

    manifest.json                   format version, generation, hash_bits, feature_dim, count,
                                    next_id, the builder's metadata, and for every array its
                                    file, dtype, shape and sha256
    codes.<generation>.npy          (count, ceil(hash_bits / 8)) uint8, numpy.packbits order
    features.<generation>.npy       (count, feature_dim) float16
    labels.<generation>.npy         (count,) int64, -1 for an unlabelled item
    ids.<generation>.npy            (count,) int64, the items' ids, ascending (below)
    paths_buffer.<generation>.npy   the items' relative paths, as ``PackedStrings``: UTF-8 bytes
    paths_offsets.<generation>.npy  and (count + 1,) int64 offsets
    file_sizes.<generation>.npy     (count,) int64 bytes and modification times of the files
    file_mtimes_ns.<generation>.npy when they were encoded, so a rebuild sees what changed

An item's id stays the same across generations while its file is unchanged (the same path,
size and mtime); a new or changed file gets a new id, ``next_id`` and up, and the ids of removed
or changed files are never given again. So an id held by a client names one encoded file, or
none. Kept items stay in the order of the previous generation, before the new ones: the ids are
ascending, and an id's row is found by bisection. Format 1 had no ids: its items' ids are their
rows.

The index is replaced atomically as a whole: a new generation's arrays are written under names
that no manifest refers to yet and flushed to disk, and only then does ``manifest.json``
(replaced by a rename) name them; the previous generation's files are removed after that. A
build that fails or is interrupted leaves the previous index as it was, and a reader that holds
it open keeps reading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ssdh_lightning.io import (
    file_sha256,
    read_json,
)
from ssdh_lightning.retrieval.backends import BACKEND_FILE, HammingBackend, check_backend
from ssdh_lightning.retrieval.backends.faiss_binary import (
    flat_backend,
    load_faiss_backend,
)
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET, rows_per_chunk
from ssdh_lightning.retrieval.codes import PackedCodes
from ssdh_lightning.retrieval.euclidean import squared_norms
from ssdh_lightning.retrieval.search import SearchResult, search
from ssdh_lightning.strings import PackedStrings, first_unsafe_path

FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
ARRAY_DTYPES = {
    "codes": np.uint8,
    "features": np.float16,
    "labels": np.int64,
    "ids": np.int64,
    "paths_buffer": np.uint8,
    "paths_offsets": np.int64,
    "file_sizes": np.int64,
    "file_mtimes_ns": np.int64,
}
# Checksummed at every load; the features (gigabytes for a million items) only on request.
LARGE_ARRAYS = ("features",)
RESERVED_KEYS = (
    "format_version",
    "generation",
    "hash_bits",
    "feature_dim",
    "count",
    "next_id",
    "arrays",
)
ADDED_IN_VERSION_2 = ("next_id", "ids")
ARRAY_FILE = re.compile(rf"^({'|'.join(ARRAY_DTYPES)})\.\d{{6,}}\.npy$")
TEMPORARY_FILE = re.compile(r"^\..+\.tmp$")  # left by an atomic write that was interrupted


def _damaged(folder: Path, problem: str) -> ValueError:
    return ValueError(
        f"{problem}; the index at {folder} is damaged: delete that folder and build it again "
        "with ssdh-index (its manifest.json names the checkpoint and the images folder it was "
        "built from)"
    )


def array_file(name: str, generation: int) -> str:
    return f"{name}.{generation:06d}.npy"


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} is not an index: it has no {MANIFEST_FILE}; build one with "
            f"`ssdh-index ckpt_path=CHECKPOINT images=FOLDER out={folder}`"
        )
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format_version"), int):
        raise _damaged(folder, f"{path} is not the manifest of an ssdh-lightning index")
    version = manifest["format_version"]
    if version > FORMAT_VERSION:
        raise ValueError(
            f"the index at {folder} has format version {version}, newer than version "
            f"{FORMAT_VERSION}, the newest this ssdh-lightning reads; upgrade ssdh-lightning "
            "(pip install --upgrade ssdh-lightning, or pull and reinstall the repository)"
        )
    missing = [key for key in RESERVED_KEYS if key not in manifest]
    missing += [name for name in ARRAY_DTYPES if name not in manifest.get("arrays", {})]
    if version < 2:
        missing = [name for name in missing if name not in ADDED_IN_VERSION_2]
    if missing:
        raise _damaged(folder, f"{path} lacks {', '.join(missing)}")
    return manifest


def _expected_shapes(manifest: dict[str, Any]) -> dict[str, tuple[int, ...] | None]:
    """The shape of every array that the manifest's counts imply (None: not implied)."""
    count = manifest["count"]
    return {
        "codes": (count, (manifest["hash_bits"] + 7) // 8),
        "features": (count, manifest["feature_dim"]),
        "labels": (count,),
        "ids": (count,),
        "paths_buffer": None,
        "paths_offsets": (count + 1,),
        "file_sizes": (count,),
        "file_mtimes_ns": (count,),
    }


def _open_array(folder: Path, name: str, manifest: dict[str, Any]) -> np.ndarray:
    """The memory-mapped array ``name``, checked against its manifest record and file size."""
    record = manifest["arrays"][name]
    file = record.get("file", "")
    if not (ARRAY_FILE.match(file) and file.startswith(f"{name}.")):
        raise _damaged(folder, f"the manifest names {file!r} as the file of {name}")
    path = folder / file
    if not path.is_file():
        raise _damaged(folder, f"index file {path} is missing")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _damaged(folder, f"index file {path} cannot be read ({error})") from None
    expected = _expected_shapes(manifest)[name] or tuple(record.get("shape", ()))
    if array.dtype != ARRAY_DTYPES[name] or array.shape != expected:
        raise _damaged(
            folder,
            f"index file {path} holds {array.dtype} {array.shape}, but the manifest says "
            f"{np.dtype(ARRAY_DTYPES[name])} {expected}",
        )
    size, needed = path.stat().st_size, array.offset + array.nbytes
    if size != needed:
        raise _damaged(folder, f"index file {path} has {size} bytes, but its array needs {needed}")
    return array


def _check_sha256(folder: Path, name: str, manifest: dict[str, Any]) -> None:
    record = manifest["arrays"][name]
    found = file_sha256(folder / record["file"])
    if found != record.get("sha256"):
        raise _damaged(
            folder,
            f"index file {folder / record['file']} does not match its checksum (sha256 "
            f"{found}, the manifest says {record.get('sha256')})",
        )


def _check_finite(folder: Path, features: np.ndarray) -> None:
    """Every feature is a finite number (ssdh-index writes no other); read in chunks."""
    step = rows_per_chunk(features.shape[1] * 3, DEFAULT_MEMORY_BUDGET)
    bad = 0
    first = None
    for start in range(0, len(features), step):
        rows = np.flatnonzero(~np.isfinite(features[start : start + step]).all(axis=1))
        bad += rows.size
        if first is None and rows.size:
            first = start + int(rows[0])
    if bad:
        raise _damaged(
            folder,
            f"{bad} items have features that are not finite (NaN or inf), the first item {first}",
        )


def _check_paths(folder: Path, paths: PackedStrings) -> None:
    """Every item's path is relative and stays under the images root: a path array rewritten to
    name ``../x`` or ``/etc/passwd`` is refused before anything reads a file on its behalf."""
    offsets = np.asarray(paths.offsets)
    if offsets[0] != 0 or offsets[-1] != paths.buffer.size or np.any(np.diff(offsets) < 0):
        raise _damaged(
            folder,
            f"its path offsets do not cut its {paths.buffer.size}-byte path buffer in order "
            f"(they run from {offsets[0]} to {offsets[-1]})",
        )
    unsafe = first_unsafe_path(paths)
    if unsafe is not None:
        row, reason = unsafe
        raise _damaged(
            folder,
            f"item {row} has the path {paths[row]!r}, but {reason}: an index names only "
            "relative paths under its images folder",
        )


def _check_ids(folder: Path, ids: np.ndarray, next_id: int) -> None:
    if len(ids) and (ids[0] < 0 or ids[-1] >= next_id or np.any(np.diff(ids) <= 0)):
        raise _damaged(
            folder,
            f"its item ids are not ascending integers from 0 to below next_id={next_id}",
        )


def is_own_file(name: str) -> bool:
    return name == MANIFEST_FILE or any(
        pattern.match(name) for pattern in (ARRAY_FILE, BACKEND_FILE, TEMPORARY_FILE)
    )


def check_index_folder(folder: Path) -> None:
    """Refuse a folder that holds anything but an index's files (a user's folder given as out)."""
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; an index is a folder: choose another path")
    foreign = sorted(entry.name for entry in folder.iterdir() if not is_own_file(entry.name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ValueError(
            f"{folder} holds files that are not an index's ({shown}); give the index a new or "
            "empty folder"
        )


def existing_index(folder: str | Path) -> Index | None:
    """The index at ``folder``, or None when there is none yet: no folder, an empty one, or the
    arrays of a first build that stopped before its manifest was written. Raises when the folder
    holds other files, or an index that cannot be read (see ``Index.load``)."""
    folder = Path(folder)
    if not folder.exists():
        return None
    check_index_folder(folder)
    if not (folder / MANIFEST_FILE).exists():
        return None
    return Index.load(folder)


@dataclass(frozen=True, repr=False)
class Index:
    """Codes, features, labels and relative paths of ``len(index)`` items, memory-mapped.

    ``manifest`` is the parsed ``manifest.json``: the fields of the format, and the builder's
    metadata (``class_names``, ``images_root``, ``model``, ``preprocessing``).
    """

    folder: Path
    manifest: dict[str, Any]
    codes: PackedCodes
    features: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    paths: PackedStrings
    file_sizes: np.ndarray
    file_mtimes_ns: np.ndarray

    @classmethod
    def load(cls, folder: str | Path, verify: bool = False) -> Index:
        """Map the index at ``folder`` into memory: nothing is parsed or copied.

        Always checked: the format version (a newer one asks to upgrade ssdh-lightning), every
        array's dtype, shape and file size against the manifest (a truncated file is caught), and
        the sha256 of every array but the features, and every item's path (relative, under the
        images root: no absolute path, no ``..``, no empty path, no NUL byte). ``verify=True``
        also checks the features' sha256 and that every feature is finite, which reads the whole
        file (0.7 s a GB on a 2-core machine).
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        names = [name for name in ARRAY_DTYPES if name in manifest["arrays"]]
        arrays = {name: _open_array(folder, name, manifest) for name in names}
        for name in names:
            if verify or name not in LARGE_ARRAYS:
                _check_sha256(folder, name, manifest)
        if "ids" not in arrays:  # format 1
            arrays["ids"] = np.arange(manifest["count"], dtype=np.int64)
            manifest = {**manifest, "next_id": manifest["count"]}
        _check_ids(folder, arrays["ids"], manifest["next_id"])
        if verify:
            _check_finite(folder, arrays["features"])
        paths = PackedStrings(arrays["paths_buffer"], arrays["paths_offsets"])
        _check_paths(folder, paths)
        return cls(
            folder=folder,
            manifest=manifest,
            codes=PackedCodes(arrays["codes"], manifest["hash_bits"]),
            features=arrays["features"],
            labels=arrays["labels"],
            ids=arrays["ids"],
            paths=paths,
            file_sizes=arrays["file_sizes"],
            file_mtimes_ns=arrays["file_mtimes_ns"],
        )

    def __len__(self) -> int:
        return self.manifest["count"]

    def __repr__(self) -> str:
        return (
            f"Index({str(self.folder)!r}, {len(self)} items, {self.hash_bits} bits, "
            f"{self.feature_dim} features)"
        )

    @property
    def hash_bits(self) -> int:
        return self.manifest["hash_bits"]

    @property
    def feature_dim(self) -> int:
        return self.manifest["feature_dim"]

    @property
    def generation(self) -> int:
        return self.manifest["generation"]

    @property
    def next_id(self) -> int:
        """The id the next new item gets: above every id this index has ever given."""
        return self.manifest["next_id"]

    def row_of(self, item_id: int) -> int | None:
        """The row of the item ``item_id``; None when no item of this generation has it."""
        row = int(np.searchsorted(self.ids, item_id))
        return row if row < len(self.ids) and self.ids[row] == item_id else None

    @property
    def class_names(self) -> list[str]:
        return self.manifest.get("class_names", [])

    def search(
        self,
        query=None,
        k: int = 10,
        mode: str = "bcs",
        *,
        query_features=None,
        hds_threshold: int | None = None,
        hds_pool_size: int | None = None,
        backend: str = "engine",
        nflip: int | None = None,
        nprobe: int | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> SearchResult:
        """The ``k`` nearest items of each query, as ``retrieval.search`` ranks them (PROTOCOL.md):
        BCS by Hamming distance of ``query`` codes, ES by Euclidean distance of
        ``query_features``, HDS by both. Ties go to the lower position in the index.

        ``backend`` answers BCS and HDS's Hamming part (``retrieval.backends``): ``"engine"``,
        the exact scan (the reference); ``"faiss"``, FAISS's exact ``IndexBinaryFlat`` (built in
        memory at its first search); ``"multihash"`` and ``"ivf"``, FAISS's sub-linear indexes
        saved beside the index by ``ssdh-index backends=[...]``, searched with the ``nflip`` /
        ``nprobe`` they were built with unless given here; ``"milvus"``, the Milvus collections
        the index was exported to (HDS fetches the pool's features from there). They order items
        of equal distance their own way, and the sub-linear ones may miss neighbours (-1 pads
        what they do not find).
        """
        check_backend(backend, mode)
        tuning = nflip is not None or nprobe is not None
        if tuning and backend not in ("multihash", "ivf"):
            raise ValueError(
                f"nflip and nprobe set backend='multihash' and backend='ivf', not {backend!r}"
            )
        hamming_backend = None if backend == "engine" else self.hamming_backend(backend)
        if tuning:
            hamming_backend = hamming_backend.tuned(nflip=nflip, nprobe=nprobe)
        return search(
            query,
            self.codes,
            k,
            mode,
            query_features=query_features,
            database_features=self.features,
            hds_threshold=hds_threshold,
            hds_pool_size=hds_pool_size,
            database_norms=self.feature_norms if mode == "es" else None,
            memory_budget=memory_budget,
            hamming_backend=hamming_backend,
        )

    def hamming_backend(self, name: str) -> HammingBackend:
        """The backend ``name`` of this index, loaded (and checked) once and kept."""
        loaded = self._hamming_backends
        if name not in loaded:
            loaded[name] = self._load_backend(name)
        return loaded[name]

    def _load_backend(self, name: str) -> HammingBackend:
        if name == "faiss":
            return flat_backend(self.codes)
        if name == "milvus":
            from ssdh_lightning.retrieval.backends.milvus import MilvusBackend

            return MilvusBackend(self)
        return load_faiss_backend(self, name)

    @cached_property
    def _hamming_backends(self) -> dict[str, HammingBackend]:
        return {}

    @cached_property
    def feature_norms(self) -> np.ndarray:
        """|x|^2 of every item's features, computed on the first ES search and kept."""
        return squared_norms(self.features, DEFAULT_MEMORY_BUDGET).numpy()
