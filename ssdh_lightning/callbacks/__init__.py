"""Lightning callbacks."""

from ssdh_lightning.callbacks.retrieval import RetrievalEvaluation, find_evaluation
from ssdh_lightning.callbacks.visuals import RetrievalVisuals

__all__ = ["RetrievalEvaluation", "RetrievalVisuals", "find_evaluation"]
