"""Backbones and the hashing head."""

from ssdh_lightning.models.backbones import BACKBONES, build_backbone
from ssdh_lightning.models.head import HashingHead
from ssdh_lightning.models.normalize import Normalize

__all__ = ["BACKBONES", "HashingHead", "Normalize", "build_backbone"]
