"""Hamming backends of ``Index.search``: other engines that answer BCS and HDS's Hamming pool.

The exact scan of ``retrieval.nearest`` (``engine``) is the default and the reference. A backend
answers two questions for packed query codes (``HammingBackend``): the ``k`` nearest by Hamming
distance, and the items within a Hamming threshold (the HDS pool); ``search(...,
hamming_backend=)`` does the rest (the HDS re-ranking by features) as for the engine.

- ``faiss``, ``multihash``, ``ivf``: FAISS binary indexes (``faiss_binary.py``).
- ``milvus``: a Milvus server or cluster the index was exported to (``milvus.py``); it also
  holds the features, which HDS fetches from it (``features(items)``).

What a backend keeps beside the index is named by its generation (``BACKEND_FILE``), so a new
generation of the index sets it aside.
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from ssdh_lightning.retrieval.codes import PackedCodes

BACKENDS = ("engine", "faiss", "multihash", "ivf", "milvus")
BUILT_BY_INDEX = ("multihash", "ivf", "milvus")  # ssdh-index backends=[...]
BACKEND_FILE = re.compile(r"^(faiss_multihash|faiss_ivf|milvus)\.(\d{6,})\.(bin|json)$")
HAMMING_MODES = ("bcs", "hds")


class HammingBackend(Protocol):
    def top_k(self, query: PackedCodes, k: int):
        """A ``SearchResult``: (n_query, k) positions (int64, -1 where none was found) and
        Hamming distances (int32), nearest first."""

    def within(self, query: PackedCodes, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """(sizes, items): each query's items at distance < threshold, in ascending position,
        concatenated query after query."""


def check_backend(backend: str, mode: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "engine" and mode not in HAMMING_MODES:
        raise ValueError(
            f"backend={backend!r} answers Hamming searches ({', '.join(HAMMING_MODES)}); "
            f"mode={mode!r} ranks features only: search it with backend='engine'"
        )
