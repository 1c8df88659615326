"""Backbones by name: each maps normalised images to ``features`` and tells ``feature_dim``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ssdh_lightning.data.preprocessing import Preprocessing
from ssdh_lightning.models.small_cnn import SmallCNN


def _small_cnn(preprocessing: Preprocessing, **options) -> nn.Module:
    return SmallCNN(preprocessing.channels, preprocessing.image_size, **options)


BACKBONES: dict[str, Callable[..., nn.Module]] = {"small_cnn": _small_cnn}


def build_backbone(name: str, preprocessing: Preprocessing, **options) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; model.backbone.name must be one of {sorted(BACKBONES)}"
        )
    return BACKBONES[name](preprocessing, **options)
