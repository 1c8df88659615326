"""Backbones by name: each maps normalised images to ``features`` and tells ``feature_dim``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ssdh_lightning.models.small_cnn import SmallCNN
from ssdh_lightning.models.torchvision_backbones import NETWORKS, build_torchvision_backbone
from ssdh_lightning.preprocessing import Preprocessing


def _small_cnn(preprocessing: Preprocessing, weights_path: str | None, **options) -> nn.Module:
    if weights_path is not None:
        raise ValueError(
            f"small_cnn trains from scratch and takes no model.weights_path (got {weights_path}); "
            f"pretrained weights exist for {sorted(NETWORKS)}"
        )
    return SmallCNN(preprocessing.channels, preprocessing.image_size, **options)


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(preprocessing: Preprocessing, weights_path: str | None, **options) -> nn.Module:
        return build_torchvision_backbone(
            name, preprocessing.channels, weights_path=weights_path, **options
        )

    return build


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": _small_cnn,
    **{name: _torchvision(name) for name in NETWORKS},
}


def build_backbone(
    name: str, preprocessing: Preprocessing, weights_path: str | None = None, **options
) -> nn.Module:
    """The backbone ``name``; ``weights_path`` is a local file of pretrained weights."""
    if name not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; model.backbone.name must be one of {sorted(BACKBONES)}"
        )
    return BACKBONES[name](preprocessing, weights_path, **options)
