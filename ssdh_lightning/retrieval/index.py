"""A persisted index: the codes, features and labels of a collection, and which file each row is.

On disk, a folder::

    manifest.json                   format version, generation, hash_bits, feature_dim, count,
                                    next_id, label_kind, the builder's metadata (class_names,
                                    ...), and for every array its file, dtype, shape and sha256
    codes.<generation>.npy          (count, ceil(hash_bits / 8)) uint8, numpy.packbits order
    features.<generation>.npy       (count, feature_dim) float16
    labels.<generation>.npy         label_kind "class_ids": (count,) int64, an index into
                                    class_names, -1 for an unlabelled item; "multi_hot":
                                    (count, len(class_names)) uint8, 1 for each class of an item
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

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    "label_kind",
    "arrays",
)
ADDED_IN_VERSION_2 = ("next_id", "ids")
# Optional in every version: a manifest without one holds class ids, as format 1 and the first
# indexes of format 2 did.
OPTIONAL_KEYS = ("label_kind",)
LABEL_KINDS = ("class_ids", "multi_hot")
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


Count = Annotated[int, Field(ge=0)]
Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class _Record(BaseModel):
    """What the manifest says of one array's file."""

    model_config = ConfigDict(strict=True)
    file: str
    dtype: str
    shape: list[Count]
    sha256: Sha256


class _Model(BaseModel):
    """The model that built the index (``indexing.checkpoint.model_identity``)."""

    model_config = ConfigDict(strict=True)
    checkpoint: str
    sha256: Sha256
    hparams: dict[str, Any] = None


class _Manifest(BaseModel):
    """The types and ranges of a manifest's fields, JSON's own types only (strict: no "48" for
    48, no 48.0, no true for 1). Keys not named here are the builder's and are kept as they are;
    the builder's that the project reads are named (an absent one is None)."""

    model_config = ConfigDict(strict=True, extra="allow")
    format_version: int = Field(ge=1, le=FORMAT_VERSION)
    generation: Count
    hash_bits: int = Field(ge=1)
    feature_dim: int = Field(ge=1)
    count: int = Field(ge=1)
    next_id: Count = None  # format 2 on; ``read_manifest`` asks for it there
    label_kind: Literal[LABEL_KINDS] = "class_ids"
    arrays: dict[Literal[tuple(ARRAY_DTYPES)], _Record]
    class_names: list[str] = None
    images_root: str = None
    model: _Model = None
    preprocessing: dict[str, Any] = None


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """The first thing in ``manifest`` that the schema (``_Manifest``) refuses, as a sentence
    (where, what, and what was found); None when it holds nothing the schema refuses."""
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the manifest"
        found = repr(first["input"])
        found = found if len(found) <= 80 else found[:77] + "..."
        return f"its {where} is not valid ({first['msg']}; found {found})"
    return None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the index at ``folder``, checked whole before anything else reads it:
    the format version, every key's type and range (``_Manifest``), and what its values must
    agree on (the label kind and the class names); ``Index.load`` then checks the arrays
    against it. Raises ``ValueError`` (``FileNotFoundError`` for no manifest)."""
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
    missing = [key for key in RESERVED_KEYS if key not in manifest and key not in OPTIONAL_KEYS]
    missing += [name for name in ARRAY_DTYPES if name not in manifest.get("arrays", {})]
    if version < 2:
        missing = [name for name in missing if name not in ADDED_IN_VERSION_2]
    if missing:
        raise _damaged(folder, f"{path} lacks {', '.join(missing)}")
    problem = manifest_problem(manifest)
    if problem is not None:
        raise _damaged(folder, f"{path} is not a valid manifest: {problem}")
    _check_label_kind(folder, manifest)
    return manifest


def label_kind(manifest: dict[str, Any]) -> str:
    return manifest.get("label_kind", "class_ids")


def _check_label_kind(folder: Path, manifest: dict[str, Any]) -> None:
    """Multi-hot labels have one column per class name (the schema checked the types)."""
    if label_kind(manifest) != "multi_hot":
        return
    names = manifest.get("class_names")
    if not names:
        raise _damaged(folder, "its labels are multi-hot, but it names no class_names")
    shape = manifest["arrays"]["labels"]["shape"]
    if shape != [manifest["count"], len(names)]:
        raise _damaged(
            folder,
            f"its multi-hot labels are recorded as {shape}, but {manifest['count']} items of "
            f"{len(names)} classes (class_names) need [{manifest['count']}, {len(names)}]",
        )


def class_id_problem(labels: np.ndarray, class_names: list[str]) -> str | None:
    """Why class ids ``labels`` do not fit ``class_names`` (each is -1, no class, or the
    index of a name), or None when they do."""
    bad = np.flatnonzero((labels < -1) | (labels >= len(class_names)))
    if bad.size == 0:
        return None
    return (
        f"{bad.size} items have a label that names no class (the first, item {int(bad[0])}, "
        f"has {int(labels[bad[0]])}), but labels are -1 (no class) or an index into the "
        f"{len(class_names)} class_names"
    )


def _check_label_values(folder: Path, manifest: dict[str, Any], labels: np.ndarray) -> None:
    if label_kind(manifest) == "class_ids":
        problem = class_id_problem(labels, manifest.get("class_names") or [])
        if problem is not None:
            raise _damaged(folder, f"{problem}: its labels and class_names disagree")
    elif labels.size and labels.max() > 1:
        rows = np.flatnonzero((labels > 1).any(axis=1))
        raise _damaged(
            folder,
            f"its multi-hot labels hold values other than 0 and 1 ({rows.size} items, the first "
            f"item {int(rows[0])})",
        )


def array_dtype(name: str, kind: str) -> np.dtype:
    """The dtype of the array ``name`` in an index of labels of ``kind``."""
    return np.dtype(np.uint8 if name == "labels" and kind == "multi_hot" else ARRAY_DTYPES[name])


def _expected_shapes(manifest: dict[str, Any]) -> dict[str, tuple[int, ...] | None]:
    """The shape of every array that the manifest's counts imply (None: not implied)."""
    count = manifest["count"]
    multi_hot = label_kind(manifest) == "multi_hot"
    return {
        "codes": (count, (manifest["hash_bits"] + 7) // 8),
        "features": (count, manifest["feature_dim"]),
        "labels": (count, len(manifest["class_names"])) if multi_hot else (count,),
        "ids": (count,),
        "paths_buffer": None,
        "paths_offsets": (count + 1,),
        "file_sizes": (count,),
        "file_mtimes_ns": (count,),
    }


class ChangedFile(ValueError):
    """An index file that no longer has the size its array needs: changed in place while in
    use. ``file`` is its name in the index's folder."""

    def __init__(self, folder: Path, file: str, problem: str) -> None:
        super().__init__(str(_damaged(folder, problem)))
        self.file = file


@dataclass(frozen=True)
class MappedFile:
    """An array's file, held open while its memory map is in use: the very file the map reads,
    even after a rebuild has removed its name. A file truncated in place under a map kills the
    process (SIGBUS) at the first read of a page past its new end, so whoever may meet that
    (a server) checks the size first (``Index.check_files``): one fstat, a microsecond."""

    path: Path
    stream: BinaryIO
    size: int  # the bytes its array needs

    def check(self, folder: Path) -> None:
        found = os.fstat(self.stream.fileno()).st_size
        if found != self.size:
            problem = (
                f"index file {self.path.name} has {found} bytes, but its array needs "
                f"{self.size}: it was changed in place while in use"
            )
            raise ChangedFile(folder, self.path.name, problem)


def _memmap(stream: BinaryIO) -> np.memmap:
    """The ``.npy`` array in ``stream``, memory-mapped from the stream's own descriptor (what
    ``np.load(mmap_mode="r")`` does from a path, which it opens again)."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"its .npy header is of version {version}, which no index holds")
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which an index never does")
    order = "F" if fortran_order else "C"
    return np.memmap(stream, dtype=dtype, mode="r", shape=shape, order=order, offset=stream.tell())


def _open_array(folder: Path, name: str, manifest: dict[str, Any]) -> tuple[np.ndarray, MappedFile]:
    """The memory-mapped array ``name``, checked against its manifest record and file size,
    and its file, held open."""
    record = manifest["arrays"][name]
    file = record["file"]
    if not (ARRAY_FILE.match(file) and file.startswith(f"{name}.")):
        raise _damaged(folder, f"the manifest names {file!r} as the file of {name}")
    path = folder / file
    if not path.is_file():
        raise _damaged(folder, f"index file {path} is missing")
    stream = open(path, "rb")  # noqa: SIM115 - held as long as the index is (MappedFile)
    try:
        return _checked_map(folder, name, manifest, path, stream)
    except BaseException:
        stream.close()
        raise


def _checked_map(
    folder: Path, name: str, manifest: dict[str, Any], path: Path, stream: BinaryIO
) -> tuple[np.ndarray, MappedFile]:
    try:
        array = _memmap(stream)
    except (ValueError, OSError, EOFError) as error:
        raise _damaged(folder, f"index file {path} cannot be read ({error})") from None
    expected = _expected_shapes(manifest)[name] or tuple(manifest["arrays"][name]["shape"])
    dtype = array_dtype(name, label_kind(manifest))
    if array.dtype != dtype or array.shape != expected:
        raise _damaged(
            folder,
            f"index file {path} holds {array.dtype} {array.shape}, but the manifest "
            f"(label_kind {label_kind(manifest)!r}) says {dtype} {expected}",
        )
    size, needed = os.fstat(stream.fileno()).st_size, array.offset + array.nbytes
    if size != needed:
        raise _damaged(folder, f"index file {path} has {size} bytes, but its array needs {needed}")
    return array, MappedFile(path, stream, needed)


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
    files: dict[str, MappedFile]  # the arrays' files, held open

    @classmethod
    def load(cls, folder: str | Path, verify: bool = False) -> Index:
        """Map the index at ``folder`` into memory: nothing is parsed or copied.

        Always checked: the manifest whole (``read_manifest``: the format version, a newer one
        asking to upgrade ssdh-lightning, and every key's type and range), every array's dtype,
        shape and file size against it (a truncated file is caught), the sha256 of every array
        but the features, every item's path (relative, under the images root: no absolute
        path, no ``..``, no empty path, no NUL byte), and the labels against their kind and the
        class names (a class id names a class; multi-hot: one 0/1 column per class name).
        ``verify=True`` also checks the features' sha256 and that every feature is finite,
        which reads the whole file (0.7 s a GB on a 2-core machine). The arrays' files stay
        open (``files``), so that a reader can tell when one is changed in place under its map
        (``check_files``).
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        names = [name for name in ARRAY_DTYPES if name in manifest["arrays"]]
        opened = {name: _open_array(folder, name, manifest) for name in names}
        arrays = {name: array for name, (array, _) in opened.items()}
        for name in names:
            if verify or name not in LARGE_ARRAYS:
                _check_sha256(folder, name, manifest)
        if "ids" not in arrays:  # format 1
            arrays["ids"] = np.arange(manifest["count"], dtype=np.int64)
            manifest = {**manifest, "next_id": manifest["count"]}
        _check_ids(folder, arrays["ids"], manifest["next_id"])
        _check_label_values(folder, manifest, arrays["labels"])
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
            files={name: file for name, (_, file) in opened.items()},
        )

    def __len__(self) -> int:
        return self.manifest["count"]

    def check_files(self, names: Iterable[str]) -> None:
        """Raise ``ChangedFile`` when the file of one of the arrays ``names`` no longer has the
        size that array needs (it was truncated or grown in place while in use), before
        anything reads it through its memory map. A format 1 index has no file of ids."""
        for name in names:
            if name in self.files:
                self.files[name].check(self.folder)

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

    @property
    def label_kind(self) -> str:
        """``"class_ids"``: ``labels`` (count,), or ``"multi_hot"``: (count, classes)."""
        return label_kind(self.manifest)

    def classes_of(self, row: int) -> list[int]:
        """The classes of the item at ``row``: none, one, or (multi-hot) any number."""
        if self.label_kind == "multi_hot":
            return np.flatnonzero(self.labels[row]).tolist()
        label = int(self.labels[row])
        return [label] if 0 <= label < len(self.class_names) else []

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
