"""Lightning callbacks."""

from ssdh_lightning.callbacks.retrieval import RetrievalEvaluation

__all__ = ["RetrievalEvaluation"]
