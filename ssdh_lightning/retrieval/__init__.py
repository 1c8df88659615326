"""The retrieval engine: arrays in, arrays out; no Lightning, Hydra or models in here.

The names below load on first use: the engine's modules import numba and torch, and a light part
(``retrieval.arrays``, what the hashing baselines read their features with) must load without
them, for ``ssdh-report``. (No module is named as a name below: importing it would set the
package's attribute to the module.)"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# each public name and the module that defines it
_EXPORTS = {
    "DEFAULT_MEMORY_BUDGET": "chunks",
    "PackedCodes": "codes",
    "pack_codes": "codes",
    "unpack_codes": "codes",
    "hamming_distances": "hamming",
    "Index": "index",
    "IndexWriter": "index_writer",
    "RetrievalScores": "metrics",
    "evaluate_retrieval": "metrics",
    "score_retrieval": "metrics",
    "SearchResult": "nearest",
    "search": "nearest",
    "EvaluationSet": "sets",
    "MODES": "settings",
    "RetrievalSettings": "settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value
