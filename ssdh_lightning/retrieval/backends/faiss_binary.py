"""FAISS's binary indexes as Hamming backends of ``Index.search``.

- ``faiss``: ``IndexBinaryFlat``, an exact scan built in memory at the first search.
- ``multihash``: ``IndexBinaryMultiHash``, multi-index hashing (Norouzi et al.): the codes cut
  into ``tables`` substrings, each a hash table; a query probes every bucket within ``nflip``
  flipped bits of its own substrings, and ranks what it finds by the full distance.
- ``ivf``: ``IndexBinaryIVF`` over ``nlist`` lists, its coarse quantizer an ``IndexBinaryHNSW``
  graph of the lists' centres; a query scans the ``nprobe`` nearest lists.

The last two are built by ``build_faiss_backend`` and saved beside the index as
``faiss_<kind>.<generation>.bin`` (FAISS's own format, read with ``faiss.read_index_binary``
memory-mapped, nothing unpickled) and ``faiss_<kind>.<generation>.json``, which records what
it was built from (generation, hash_bits, count, the codes' sha256) and the file's sha256, both
checked before FAISS reads the file. Once read, the file must hold an index of its kind, of the
index's count and dimension, and the index's own codes (a sample of them, read back from
FAISS's storage or lists); a file FAISS cannot read is named as damaged, with the fix, like any
other. A new generation of the index removes them (they describe codes that are gone); build
them again with ``ssdh-index backends=[...]``.

Items that a backend does not reach are padded as FAISS pads them: position -1, distance
``hash_bits + 1``.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssdh_lightning.io import atomic_write, file_sha256, read_json, write_json
from ssdh_lightning.retrieval.backends import BACKEND_FILE
from ssdh_lightning.retrieval.codes import PackedCodes
from ssdh_lightning.retrieval.search import SearchResult

if TYPE_CHECKING:
    from ssdh_lightning.retrieval.index import Index

SAVED_KINDS = ("multihash", "ivf")
FAISS_CLASSES = {"multihash": "IndexBinaryMultiHash", "ivf": "IndexBinaryIVF"}
ADD_CHUNK_ROWS = 1 << 20  # codes handed to FAISS at once: 16 MB of 128-bit codes
SAMPLE_CODES = 64  # codes of a saved backend read back and compared with the index's on load


@dataclass(frozen=True)
class MultiHashSettings:
    """``tables`` hash tables of ``hash_bits // tables`` bits each; ``nflip``: the bits a query
    flips in each substring. A Hamming radius r (distance < r) is answered exactly when
    ``nflip >= (r - 1) // tables`` (pigeonhole: one substring is that near)."""

    tables: int = 8
    nflip: int = 1


@dataclass(frozen=True)
class IVFSettings:
    """``nlist`` lists (binary k-means on ``train_size`` codes drawn from the index, 64 a list
    when null), an HNSW graph of ``hnsw_m`` links a node over their centres, ``nprobe`` lists
    scanned a query."""

    nlist: int = 1024
    nprobe: int = 16
    hnsw_m: int = 32
    train_size: int | None = None
    seed: int = 0


def import_faiss():
    # FAISS logs at INFO which of its builds it tries to load: noise in ssdh-search's output
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "the FAISS backends need FAISS: pip install faiss-cpu (it comes with the dev "
            "extra, pip install -e '.[dev]'), or search with backend='engine'"
        ) from None
    return faiss


def _positive(name: str, value, minimum: int = 1) -> None:
    if not (isinstance(value, int | np.integer) and not isinstance(value, bool)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def backend_file(kind: str, generation: int, suffix: str) -> str:
    return f"faiss_{kind}.{generation:06d}.{suffix}"


class FaissBackend:
    """A FAISS binary index answering ``top_k`` and ``within`` for packed queries, with the
    ``nflip`` / ``nprobe`` it was built with unless ``tuned`` says otherwise. Searches that
    change them run one at a time (they are fields of FAISS's index, not of the call)."""

    def __init__(
        self, kind: str, faiss_index, hash_bits: int, *, nflip=None, nprobe=None, lock=None
    ) -> None:
        if nflip is not None and kind != "multihash":
            raise ValueError(f"nflip sets backend='multihash', not backend={kind!r}")
        if nprobe is not None and kind != "ivf":
            raise ValueError(f"nprobe sets backend='ivf', not backend={kind!r}")
        if nflip is not None:
            _positive("nflip", nflip, 0)
        if nprobe is not None:
            _positive("nprobe", nprobe)
        self.kind, self.faiss_index, self.hash_bits = kind, faiss_index, hash_bits
        self.nflip, self.nprobe = nflip, nprobe
        self._lock = lock or threading.Lock()

    def tuned(self, nflip: int | None = None, nprobe: int | None = None) -> FaissBackend:
        """The same index searched with other ``nflip`` (multihash) or ``nprobe`` (ivf)."""
        if nflip is None and nprobe is None:
            return self
        return FaissBackend(
            self.kind, self.faiss_index, self.hash_bits, nflip=nflip, nprobe=nprobe, lock=self._lock
        )

    def _run(self, method: str, query: PackedCodes, argument: int):
        with _threads_for(len(query)):
            return self._search(method, query, argument)

    def _search(self, method: str, query: PackedCodes, argument: int):
        search = getattr(self.faiss_index, method)
        queries = np.ascontiguousarray(query.bytes)
        field, value = (
            ("nflip", self.nflip) if self.kind == "multihash" else ("nprobe", self.nprobe)
        )
        if value is None:
            return search(queries, argument)
        # a field of FAISS's index (its range_search takes no per-call parameters)
        with self._lock:
            saved = getattr(self.faiss_index, field)
            setattr(self.faiss_index, field, int(value))
            try:
                return search(queries, argument)
            finally:
                setattr(self.faiss_index, field, saved)

    def top_k(self, query: PackedCodes, k: int) -> SearchResult:
        """The ``k`` nearest that the backend reaches, by Hamming distance (FAISS's order inside
        a tie); -1 and ``hash_bits + 1`` pad a row it could not fill."""
        distances, indices = self._run("search", query, int(k))
        distances = distances.astype(np.int32)
        distances[indices < 0] = self.hash_bits + 1
        return SearchResult(indices.astype(np.int64), distances)

    def within(self, query: PackedCodes, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """(sizes, items): the items at Hamming distance less than ``threshold`` that the
        backend reaches, each query's in ascending position, concatenated."""
        if threshold == 0:
            return np.zeros(len(query), dtype=np.int64), np.empty(0, dtype=np.int64)
        limits, _, items = self._run("range_search", query, int(threshold))
        sizes = np.diff(limits).astype(np.int64)
        owner = np.repeat(np.arange(len(query)), sizes)
        return sizes, items[np.lexsort((items, owner))].astype(np.int64)


@contextmanager
def _threads_for(n_query: int):
    """One query runs on one OpenMP thread, as the engine's does on the calling thread: waking
    FAISS's threads took 120 ms against 4.5 ms for one query over 200,000 codes here (a loaded
    2-core machine). FAISS's thread count is process-wide; it is restored after the call."""
    if n_query != 1:
        yield
        return
    faiss = import_faiss()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def flat_backend(codes: PackedCodes) -> FaissBackend:
    """An ``IndexBinaryFlat`` of the codes, built in memory (a copy of them)."""
    faiss = import_faiss()
    index = faiss.IndexBinaryFlat(codes.bytes.shape[1] * 8)  # the padding bits are 0
    _add(index, codes)
    return FaissBackend("faiss", index, codes.hash_bits)


def _add(faiss_index, codes: PackedCodes) -> None:
    for start in range(0, len(codes), ADD_CHUNK_ROWS):
        faiss_index.add(np.ascontiguousarray(codes.bytes[start : start + ADD_CHUNK_ROWS]))


def multihash_index(codes: PackedCodes, settings: MultiHashSettings):
    """FAISS's ``IndexBinaryMultiHash`` of the codes, in memory."""
    faiss = import_faiss()
    _positive("multihash.tables", settings.tables)
    _positive("multihash.nflip", settings.nflip, 0)
    bits = codes.hash_bits // settings.tables
    if bits < 1 or bits > 64:
        raise ValueError(
            f"multihash.tables={settings.tables} cuts {codes.hash_bits}-bit codes into "
            f"substrings of {bits} bits; FAISS needs 1 to 64: choose tables between "
            f"{-(-codes.hash_bits // 64)} and {codes.hash_bits}"
        )
    index = faiss.IndexBinaryMultiHash(codes.bytes.shape[1] * 8, settings.tables, bits)
    index.nflip = settings.nflip
    _add(index, codes)
    return index


def ivf_index(codes: PackedCodes, settings: IVFSettings):
    """FAISS's ``IndexBinaryIVF`` of the codes and its HNSW quantizer, in memory."""
    faiss = import_faiss()
    for name in ("nlist", "nprobe", "hnsw_m"):
        _positive(f"ivf.{name}", getattr(settings, name))
    if settings.nlist > len(codes):
        raise ValueError(
            f"ivf.nlist={settings.nlist} lists need at least as many codes to train on, but "
            f"the index holds {len(codes)}: set ivf.nlist to {len(codes)} or less (about "
            "4 * sqrt(count) is usual)"
        )
    train_size = min(len(codes), settings.train_size or 64 * settings.nlist)
    _positive("ivf.train_size", train_size, settings.nlist)
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(len(codes), train_size, replace=False))
    d = codes.bytes.shape[1] * 8
    quantizer = faiss.IndexBinaryHNSW(d, settings.hnsw_m)
    index = faiss.IndexBinaryIVF(quantizer, d, settings.nlist)
    index.nprobe = settings.nprobe
    index.train(np.ascontiguousarray(codes.bytes[sample]))
    _add(index, codes)
    return index, quantizer  # the quantizer must live as long as the index that uses it


def build_faiss_backend(index: Index, kind: str, settings: MultiHashSettings | IVFSettings) -> Path:
    """Build the ``kind`` backend of ``index``'s codes and save it beside them (atomically:
    the JSON record, written last, is what makes it current), unless one of this generation and
    these settings is there already. Returns the FAISS file."""
    faiss = import_faiss()
    if kind not in SAVED_KINDS:
        raise ValueError(f"a FAISS backend to build is one of {SAVED_KINDS}, got {kind!r}")
    expected = MultiHashSettings if kind == "multihash" else IVFSettings
    if not isinstance(settings, expected):
        raise TypeError(f"backend {kind!r} is built with {expected.__name__}, got {settings!r}")
    record_path = index.folder / backend_file(kind, index.generation, "json")
    if record_path.is_file() and read_json(record_path).get("settings") == asdict(settings):
        return index.folder / backend_file(kind, index.generation, "bin")
    if kind == "multihash":
        faiss_index = multihash_index(index.codes, settings)
    else:
        faiss_index, _quantizer = ivf_index(index.codes, settings)  # the index needs it alive
    path = index.folder / backend_file(kind, index.generation, "bin")
    atomic_write(
        path,
        lambda stream: faiss.write_index_binary(
            faiss_index, faiss.PyCallbackIOWriter(stream.write)
        ),
    )
    record = _codes_identity(index, kind) | {
        "settings": asdict(settings),
        "faiss_version": faiss.__version__,
        "sha256": file_sha256(path),
    }
    write_json(index.folder / backend_file(kind, index.generation, "json"), record)
    return path


def _codes_identity(index: Index, kind: str) -> dict[str, Any]:
    """What a backend's record must say of the codes it was built from, and its file's name."""
    return {
        "kind": kind,
        "generation": index.generation,
        "hash_bits": index.hash_bits,
        "count": len(index),
        "codes_sha256": index.manifest["arrays"]["codes"]["sha256"],
        "file": backend_file(kind, index.generation, "bin"),
    }


def _not_built(index: Index, kind: str, problem: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{problem}; build it with `ssdh-index ckpt_path=CHECKPOINT images=FOLDER "
        f"out={index.folder} backends=[{kind}]` (an index that is up to date is not encoded "
        "again), or search with backend=engine"
    )


def _check_record(index: Index, kind: str, record: Any, path: Path) -> None:
    if not isinstance(record, dict):
        raise ValueError(
            f"{path} is not the record of a FAISS backend; build it again with "
            f"`ssdh-index ... out={index.folder} backends=[{kind}]`"
        )
    for key, value in _codes_identity(index, kind).items():
        if record.get(key) != value:
            raise ValueError(
                f"the {kind} backend at {path} was built for {key} {record.get(key)!r}, but the "
                f"index {index.folder} has {value!r}: it belongs to other codes; build it again "
                f"with `ssdh-index ... out={index.folder} backends=[{kind}]`"
            )


def _damaged(index: Index, kind: str, path: Path, problem: str) -> ValueError:
    return ValueError(
        f"the {kind} backend's file {path} {problem}: it is damaged; build it again with "
        f"`ssdh-index ... out={index.folder} backends=[{kind}]`, or search with backend=engine"
    )


def _faiss_reason(error: RuntimeError) -> str:
    """What FAISS says is wrong, without the C++ function and source line it says it first."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    found = re.search(r"\.(?:cpp|h):\d+: (?:Error: )?(.*)$", text)
    return found.group(1) if found else text


def _spread(count: int, most: int) -> np.ndarray:
    """At most ``most`` numbers from 0 to ``count - 1``, spread evenly, ascending."""
    return np.unique(np.linspace(0, count - 1, min(count, most)).astype(np.int64))


def _multihash_codes(faiss_index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, codes): SAMPLE_CODES codes read back from a multihash's storage (an
    IndexBinaryFlat in item order), spread over all."""
    ids = _spread(faiss_index.ntotal, SAMPLE_CODES)
    return ids, np.stack([faiss_index.storage.reconstruct(int(i)) for i in ids])


def _ivf_codes(faiss, faiss_index, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, codes): the first codes of 16 of the ``filled`` inverted lists, spread over all,
    about SAMPLE_CODES in all."""
    lists, ids, codes = faiss_index.invlists, [], []
    for number in filled[_spread(filled.size, 16)].tolist():
        taken = min(lists.list_size(number), SAMPLE_CODES // 16)
        ids.append(faiss.rev_swig_ptr(lists.get_ids(number), taken).astype(np.int64))
        stored = faiss.rev_swig_ptr(lists.get_codes(number), taken * lists.code_size)
        codes.append(stored.reshape(taken, lists.code_size).copy())
    return np.concatenate(ids), np.concatenate(codes)


def _check_contents(faiss, faiss_index, index: Index, kind: str, path: Path) -> None:
    """The file holds a FAISS index of ``kind``, of the index's count and dimension, and codes
    read back from it are the index's codes of the same items."""
    expected = getattr(faiss, FAISS_CLASSES[kind])
    if not isinstance(faiss_index, expected):
        found = type(faiss_index).__name__
        raise _damaged(index, kind, path, f"holds a FAISS {found}, not the {expected.__name__}")
    if faiss_index.ntotal != len(index) or faiss_index.d != index.codes.bytes.shape[1] * 8:
        raise _damaged(
            index,
            kind,
            path,
            f"holds {faiss_index.ntotal} codes of {faiss_index.d} bits, but the index has "
            f"{len(index)} of {index.hash_bits}",
        )
    if kind == "multihash":
        ids, codes = _multihash_codes(faiss_index)
    else:
        lists = faiss_index.invlists
        sizes = np.array([lists.list_size(number) for number in range(lists.nlist)])
        if sizes.sum() != len(index):
            problem = f"lists {sizes.sum()} codes, but says it holds {len(index)}"
            raise _damaged(index, kind, path, problem)
        ids, codes = _ivf_codes(faiss, faiss_index, np.flatnonzero(sizes))
    outside = (ids < 0) | (ids >= len(index))
    if outside.any():
        problem = f"names item {int(ids[outside][0])}, which the index lacks"
        raise _damaged(index, kind, path, problem)
    differ = np.flatnonzero((codes != np.asarray(index.codes.bytes[ids])).any(axis=1))
    if differ.size:
        raise _damaged(
            index,
            kind,
            path,
            f"holds other codes than the index ({differ.size} of {ids.size} codes read back "
            f"differ, the first that of item {int(ids[differ[0]])})",
        )


def load_faiss_backend(index: Index, kind: str) -> FaissBackend:
    """The saved ``kind`` backend of ``index``, checked against it, memory-mapped by FAISS where
    FAISS can (the IVF lists; a multihash's hash tables are rebuilt in memory as it reads)."""
    faiss = import_faiss()
    record_path = index.folder / backend_file(kind, index.generation, "json")
    if not record_path.is_file():
        others = sorted(
            path.name
            for path in index.folder.glob(f"faiss_{kind}.*.json")
            if BACKEND_FILE.match(path.name)
        )
        found = f" (found {', '.join(others)}, of other generations)" if others else ""
        raise _not_built(
            index,
            kind,
            f"the index {index.folder} (generation {index.generation}) has no {kind} "
            f"backend{found}",
        )
    record = read_json(record_path)
    _check_record(index, kind, record, record_path)
    path = index.folder / record["file"]
    if not path.is_file():
        raise _not_built(index, kind, f"the {kind} backend's file {path} is missing")
    if file_sha256(path) != record.get("sha256"):
        raise _damaged(index, kind, path, f"does not match the sha256 of its record {record_path}")
    try:
        faiss_index = faiss.read_index_binary(
            str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
        )
    except RuntimeError as error:
        raise _damaged(index, kind, path, f"cannot be read ({_faiss_reason(error)})") from None
    _check_contents(faiss, faiss_index, index, kind, path)
    return FaissBackend(kind, faiss_index, index.hash_bits)
