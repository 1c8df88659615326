"""The engine's exact scan as a search backend (``engine``, the default and the reference):
every item is reached, and ties go to the lower position, as PROTOCOL.md ranks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ssdh_lightning.retrieval import kernels, pools
from ssdh_lightning.retrieval.backends.base import (
    BACKENDS,
    DEFAULT_PARAMETERS,
    ENGINE,
    HammingBackend,
    SearchParameters,
)
from ssdh_lightning.retrieval.chunks import rows_per_chunk
from ssdh_lightning.retrieval.codes import PackedCodes
from ssdh_lightning.retrieval.result import SearchResult
from ssdh_lightning.retrieval.settings import RetrievalSettings

if TYPE_CHECKING:
    from ssdh_lightning.retrieval.index import Index


@BACKENDS.register(ENGINE)
class ExactScan(HammingBackend):
    """The numba kernels over ``database``'s codes, laid out once per ``PackedCodes``
    (``PackedCodes.columns``), so a database searched again is not laid out again."""

    def __init__(self, database: PackedCodes) -> None:
        self.database = database

    @classmethod
    def load(cls, index: Index) -> ExactScan:
        return cls(index.codes)

    def top_k(
        self, query: PackedCodes, k: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> SearchResult:
        query_words, columns = query.words(), self.database.columns
        indices = np.empty((len(query_words), k), dtype=np.int64)
        distances = np.empty((len(query_words), k), dtype=np.int32)
        n_parts = kernels.database_parts(len(query_words), columns.shape[1])
        step = rows_per_chunk(k * 12 * n_parts, parameters.memory_budget)
        for start in range(0, len(query_words), step):
            rows = slice(start, start + step)
            kernels.hamming_top_k(
                query_words[rows], columns, k, n_parts, indices[rows], distances[rows]
            )
        return SearchResult(indices, distances)

    def within(
        self, query: PackedCodes, threshold: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> tuple[np.ndarray, np.ndarray]:
        words, columns = query.words(), self.database.columns
        sizes = pools.pool_sizes(RetrievalSettings(hds_threshold=threshold), words, columns)
        items = np.empty(sizes.sum(), dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        kernels.collect_within(words, columns, threshold, offsets, items)
        return sizes, items
