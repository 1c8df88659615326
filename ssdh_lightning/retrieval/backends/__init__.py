"""Search backends of ``Index.search``: the engines that answer BCS and HDS's Hamming pool.

Every backend implements one interface (``base.HammingBackend``): for packed query codes, the
``k`` nearest by Hamming distance and the items within a Hamming threshold (the HDS pool), with
the settings of each search (``SearchParameters``); ``search(..., hamming_backend=)`` does the
rest (the HDS re-ranking by features) alike for all. Each registers in ``BACKENDS`` where it is
defined; ``Index.hamming_backend(name)`` loads one through the registry.

- ``engine``: the exact scan of the engine's kernels, the default and the reference
  (``engine.py``).
- ``faiss``, ``multihash``, ``ivf``: FAISS binary indexes (``faiss_binary.py``).
- ``milvus``: a Milvus server or cluster the index was exported to (``milvus.py``); it also
  holds the features, which HDS fetches from it (``holds_features``).

What a backend keeps beside the index is named by its generation (``BACKEND_FILE``), so a new
generation of the index sets it aside. Importing this package loads neither FAISS nor pymilvus.
"""

from __future__ import annotations

import re

from ssdh_lightning.retrieval.backends.base import (
    BACKENDS,
    ENGINE,
    HAMMING_MODES,
    HammingBackend,
    SearchParameters,
    check_backend,
)

# The order of registration is the order backends are listed in: the engine's, then the others.
# isort: off
from ssdh_lightning.retrieval.backends.engine import ExactScan
from ssdh_lightning.retrieval.backends.faiss_binary import FaissBackend
from ssdh_lightning.retrieval.backends.milvus import MilvusBackend
# isort: on

BUILT_BY_INDEX = tuple(name for name, kind in BACKENDS.items() if kind.built_by_index)
_STEMS = [kind.file_stem for _, kind in BACKENDS.items() if kind.file_stem is not None]
BACKEND_FILE = re.compile(rf"^({'|'.join(map(re.escape, _STEMS))})\.(\d{{6,}})\.(bin|json)$")

__all__ = [
    "BACKENDS",
    "BACKEND_FILE",
    "BUILT_BY_INDEX",
    "ENGINE",
    "HAMMING_MODES",
    "ExactScan",
    "FaissBackend",
    "HammingBackend",
    "MilvusBackend",
    "SearchParameters",
    "check_backend",
]
