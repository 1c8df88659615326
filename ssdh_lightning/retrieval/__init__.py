"""The retrieval engine: arrays in, arrays out; no Lightning, Hydra or models in here."""

from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET
from ssdh_lightning.retrieval.codes import PackedCodes, pack_codes, unpack_codes
from ssdh_lightning.retrieval.hamming import hamming_distances
from ssdh_lightning.retrieval.index import Index
from ssdh_lightning.retrieval.index_writer import IndexWriter
from ssdh_lightning.retrieval.metrics import (
    RetrievalScores,
    evaluate_retrieval,
    score_retrieval,
)
from ssdh_lightning.retrieval.search import SearchResult, search
from ssdh_lightning.retrieval.sets import EvaluationSet
from ssdh_lightning.retrieval.settings import MODES, RetrievalSettings

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "MODES",
    "EvaluationSet",
    "Index",
    "IndexWriter",
    "PackedCodes",
    "RetrievalScores",
    "RetrievalSettings",
    "SearchResult",
    "evaluate_retrieval",
    "hamming_distances",
    "pack_codes",
    "score_retrieval",
    "search",
    "unpack_codes",
]
