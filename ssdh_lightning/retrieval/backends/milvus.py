"""Milvus as the Hamming backend of ``Index.search`` (``backend="milvus"``): search past one
machine.

``export_to_milvus`` writes an index into two collections of a Milvus server or cluster (one
vector field a collection, as Milvus 2.3 allows):

- ``<collection>_codes``: ``id`` (INT64, the item's id in the index, primary key: stable across
  the index's generations, so other systems may hold it),
  ``codes`` (BINARY_VECTOR of the packed codes, a BIN_FLAT index under HAMMING), ``label``
  (INT64) and ``path`` (VARCHAR);
- ``<collection>_features``: ``id`` and ``features`` (FLOAT_VECTOR, the float16 features as
  float32, exactly), for HDS's fine step.

BCS is Milvus's binary search; HDS's pool is Milvus's range search (distance < threshold) or
its top ``hds_pool_size``, the pool's features are fetched from Milvus by id and re-ranked here,
as the engine does (``retrieval.nearest``). Each collection's description records the index's
generation, hash_bits, count and codes' sha256, and ``milvus.<generation>.json`` beside the
index says where it was exported, so a search finds the server and refuses collections of other
codes. Tested with pymilvus 2.3 against Milvus 2.3.5 (the ``milvus`` package's embedded server).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ssdh_lightning.io import read_json, write_json
from ssdh_lightning.retrieval.backends.base import (
    BACKENDS,
    DEFAULT_PARAMETERS,
    HammingBackend,
    SearchParameters,
)
from ssdh_lightning.retrieval.codes import PackedCodes
from ssdh_lightning.retrieval.result import SearchResult

if TYPE_CHECKING:
    from ssdh_lightning.retrieval.index import Index

INSERT_ROWS = 10_000
QUERY_IDS = 10_000
MAX_LIMIT = 16_384  # Milvus's largest topk and query result (its default proxy settings)
_connect_lock = threading.Lock()


@dataclass(frozen=True)
class MilvusSettings:
    """Where the Milvus server or cluster is: ``uri`` (``http://host:19530``, with
    ``user:password@`` or a ``token`` where the cluster asks for one) or ``host`` and ``port``;
    ``collection``: the prefix of the two collections."""

    uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 19530
    token: str | None = None
    collection: str = "ssdh"


def import_pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise ImportError(
            "backend='milvus' needs pymilvus: pip install 'ssdh-lightning[milvus]' (or pip "
            "install 'pymilvus<2.4' for a Milvus 2.3 server), or search with backend='engine'"
        ) from None
    return pymilvus


def record_file(generation: int) -> str:
    return f"{MilvusBackend.file_stem}.{generation:06d}.json"


def _connect(settings: MilvusSettings) -> str:
    """A pymilvus connection alias for ``settings`` (opened once a process)."""
    pymilvus = import_pymilvus()
    alias = f"ssdh-{settings.uri or f'{settings.host}:{settings.port}'}"
    with _connect_lock:
        if not pymilvus.connections.has_connection(alias):
            options: dict[str, Any] = {"token": settings.token} if settings.token else {}
            if settings.uri:
                options["uri"] = settings.uri
            else:
                options.update(host=settings.host, port=str(settings.port))
            try:
                pymilvus.connections.connect(alias, **options)
            except Exception as error:
                where = settings.uri or f"{settings.host}:{settings.port}"
                raise ConnectionError(
                    f"no Milvus server answers at {where} ({error}); start it, or point "
                    "milvus.uri (or milvus.host and milvus.port) at your cluster"
                ) from None
    return alias


def _identity(index: Index) -> dict[str, Any]:
    return {
        "generation": index.generation,
        "hash_bits": index.hash_bits,
        "count": len(index),
        "codes_sha256": index.manifest["arrays"]["codes"]["sha256"],
    }


def _schemas(pymilvus, index: Index, identity: str):
    field, kind = pymilvus.FieldSchema, pymilvus.DataType
    key = field("id", kind.INT64, is_primary=True)
    codes = pymilvus.CollectionSchema(
        [
            key,
            field("codes", kind.BINARY_VECTOR, dim=index.codes.bytes.shape[1] * 8),
            field("label", kind.INT64),
            field("path", kind.VARCHAR, max_length=4096),
        ],
        description=identity,
    )
    features = pymilvus.CollectionSchema(
        [key, field("features", kind.FLOAT_VECTOR, dim=index.feature_dim)], description=identity
    )
    return codes, features


def export_to_milvus(index: Index, settings: MilvusSettings) -> None:
    """Write ``index`` into the collections ``<settings.collection>_codes`` and ``_features``
    (replacing collections of that name), then ``milvus.<generation>.json`` beside it."""
    if index.label_kind == "multi_hot":  # the collection's label field holds one class id
        raise ValueError(
            f"the index at {index.folder} holds multi-hot labels, and the Milvus export stores one "
            "class id an item; search this index with the engine or a FAISS backend instead"
        )
    pymilvus = import_pymilvus()
    alias = _connect(settings)
    identity = json.dumps(_identity(index), sort_keys=True)
    names = (f"{settings.collection}_codes", f"{settings.collection}_features")
    for name in names:
        if pymilvus.utility.has_collection(name, using=alias):
            pymilvus.utility.drop_collection(name, using=alias)
    codes_schema, features_schema = _schemas(pymilvus, index, identity)
    codes = pymilvus.Collection(names[0], codes_schema, using=alias)
    features = pymilvus.Collection(names[1], features_schema, using=alias)
    for start in range(0, len(index), INSERT_ROWS):
        rows = np.arange(start, min(start + INSERT_ROWS, len(index)))
        ids = index.ids[rows].tolist()
        packed = np.asarray(index.codes.bytes[rows])
        paths = [index.paths[int(row)] for row in rows]
        codes.insert([ids, [bytes(code) for code in packed], index.labels[rows].tolist(), paths])
        features.insert([ids, np.asarray(index.features[rows], dtype=np.float32)])
    for collection, field, parameters in (
        (codes, "codes", {"index_type": "BIN_FLAT", "metric_type": "HAMMING", "params": {}}),
        (features, "features", {"index_type": "FLAT", "metric_type": "L2", "params": {}}),
    ):
        collection.flush()
        collection.create_index(field, parameters)
    write_json(index.folder / record_file(index.generation), asdict(settings))


@BACKENDS.register("milvus")
class MilvusBackend(HammingBackend):
    """The codes collection answers ``top_k`` and ``within``; the features collection
    ``features`` (the positions of the HDS pool)."""

    holds_features = True
    built_by_index = True
    file_stem = "milvus"

    @classmethod
    def load(cls, index: Index) -> MilvusBackend:
        return cls(index)

    @classmethod
    def build(cls, index: Index, settings: MilvusSettings) -> str:
        export_to_milvus(index, settings)
        return f"collections {settings.collection}_codes and _features"

    def __init__(self, index: Index) -> None:
        pymilvus = import_pymilvus()
        path = index.folder / record_file(index.generation)
        if not path.is_file():
            raise FileNotFoundError(
                f"the index {index.folder} (generation {index.generation}) was not exported to "
                f"Milvus; export it with `ssdh-index ... out={index.folder} backends=[milvus] "
                "milvus.uri=...`, or search with backend=engine"
            )
        self.settings = MilvusSettings(**read_json(path))
        alias = _connect(self.settings)
        wanted = _identity(index)
        self.collections = []
        for suffix in ("codes", "features"):
            name = f"{self.settings.collection}_{suffix}"
            if not pymilvus.utility.has_collection(name, using=alias):
                raise FileNotFoundError(
                    f"Milvus has no collection {name}: export the index {index.folder} again "
                    f"with `ssdh-index ... out={index.folder} backends=[milvus]`"
                )
            collection = pymilvus.Collection(name, using=alias)
            found = json.loads(collection.description or "{}")
            if found != wanted:
                raise ValueError(
                    f"the Milvus collection {name} holds {found}, but the index {index.folder} "
                    f"is {wanted}: it was exported from other codes; export this index again "
                    f"with `ssdh-index ... out={index.folder} backends=[milvus]`"
                )
            collection.load()
            self.collections.append(collection)
        self.hash_bits, self.count, self.feature_dim = (
            index.hash_bits,
            len(index),
            index.feature_dim,
        )
        self.ids = np.asarray(index.ids)

    def _rows(self, ids) -> np.ndarray:
        """The index rows of Milvus's item ids (the index's ids ascend: a bisection)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return ids
        rows = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        unknown = ids[self.ids[rows] != ids]
        if unknown.size:
            raise ValueError(
                f"the Milvus collection {self.collections[0].name} holds item ids the index does "
                f"not ({unknown[:5].tolist()}): export the index again"
            )
        return rows

    def _search(self, query: PackedCodes, limit: int, params: dict[str, Any]):
        if limit > MAX_LIMIT:
            raise ValueError(
                f"Milvus returns at most {MAX_LIMIT} items a query, {limit} were asked: lower "
                "k (or hds_pool_size), or search with a FAISS backend or the engine"
            )
        return self.collections[0].search(
            [bytes(code) for code in np.asarray(query.bytes)],
            "codes",
            {"metric_type": "HAMMING", "params": params},
            limit=limit,
        )

    def top_k(
        self, query: PackedCodes, k: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> SearchResult:
        indices = np.full((len(query), k), -1, dtype=np.int64)
        distances = np.full((len(query), k), self.hash_bits + 1, dtype=np.int32)
        for a, hits in enumerate(self._search(query, min(k, self.count), {})):
            indices[a, : len(hits)] = self._rows(hits.ids)
            distances[a, : len(hits)] = np.rint(hits.distances)
        return SearchResult(indices, distances)

    def within(
        self, query: PackedCodes, threshold: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> tuple[np.ndarray, np.ndarray]:
        """Milvus's range search, distances in [0, threshold); a pool that fills Milvus's limit
        would be cut short, so it is an error."""
        sizes = np.zeros(len(query), dtype=np.int64)
        if threshold == 0:
            return sizes, np.empty(0, dtype=np.int64)
        limit = min(self.count, MAX_LIMIT)
        # Milvus's range for HAMMING keeps range_filter <= distance < radius
        params = {"radius": float(threshold), "range_filter": 0.0}
        pools = []
        for a, hits in enumerate(self._search(query, limit, params)):
            if len(hits) == limit < self.count:
                raise ValueError(
                    f"query {a} has {limit} or more items within Hamming distance {threshold}, "
                    f"as many as Milvus returns: lower hds_threshold, or use hds_pool_size"
                )
            sizes[a] = len(hits)
            pools.append(np.sort(self._rows(hits.ids)))
        return sizes, np.concatenate(pools) if pools else np.empty(0, dtype=np.int64)

    def features(self, items: np.ndarray) -> np.ndarray:
        """(len(items), feature_dim) float32: the features of the positions ``items``, fetched
        by their ids."""
        wanted = self.ids[np.unique(items)]  # ascending, as the rows are
        by_id: dict[int, Any] = {}
        for start in range(0, wanted.size, QUERY_IDS):
            ids = wanted[start : start + QUERY_IDS].tolist()
            for row in self.collections[1].query(f"id in {ids}", output_fields=["features"]):
                by_id[row["id"]] = row["features"]
        missing = [int(i) for i in wanted if int(i) not in by_id]
        if missing:
            raise ValueError(
                f"the Milvus collection {self.collections[1].name} lacks the features of items "
                f"{missing[:5]}: export the index again"
            )
        fetched = np.asarray([by_id[int(i)] for i in wanted], dtype=np.float32)
        fetched = fetched.reshape(wanted.size, self.feature_dim)  # also when there are none
        return fetched[np.searchsorted(wanted, self.ids[items])]
