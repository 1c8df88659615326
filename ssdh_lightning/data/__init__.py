"""Data modules: each serves train, query and database sets split as PROTOCOL.md says."""

from ssdh_lightning.data.base import DATABASE, QUERY, RetrievalDataModule, Splits
from ssdh_lightning.data.digits import DigitsDataModule
from ssdh_lightning.data.preprocessing import Preprocessing

__all__ = [
    "DATABASE",
    "QUERY",
    "DigitsDataModule",
    "Preprocessing",
    "RetrievalDataModule",
    "Splits",
]
