"""Lightning callbacks."""

from ssdh_lightning.callbacks.collapse import CollapseDetection, collapse_record
from ssdh_lightning.callbacks.retrieval import RetrievalEvaluation, find_evaluation
from ssdh_lightning.callbacks.visuals import RetrievalVisuals

__all__ = [
    "CollapseDetection",
    "RetrievalEvaluation",
    "RetrievalVisuals",
    "collapse_record",
    "find_evaluation",
]
