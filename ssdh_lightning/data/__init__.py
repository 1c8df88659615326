"""Data modules: each serves train, query and database sets split as PROTOCOL.md says."""

from ssdh_lightning.data.base import DATABASE, QUERY, RetrievalDataModule, Splits
from ssdh_lightning.data.cifar import CIFAR10DataModule
from ssdh_lightning.data.digits import DigitsDataModule
from ssdh_lightning.data.folder import ImageFolderDataModule
from ssdh_lightning.data.list_files import ListFileDataModule
from ssdh_lightning.data.mnist import MNISTDataModule
from ssdh_lightning.data.required_files import DataFilesMissing

__all__ = [
    "DATABASE",
    "QUERY",
    "CIFAR10DataModule",
    "DataFilesMissing",
    "DigitsDataModule",
    "ImageFolderDataModule",
    "ListFileDataModule",
    "MNISTDataModule",
    "RetrievalDataModule",
    "Splits",
]
