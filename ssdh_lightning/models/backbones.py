"""Backbones by name (``BACKBONES``, what ``model.backbone.name`` takes): each builder maps
normalised images to ``features`` and tells ``feature_dim``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ssdh_lightning.models.small_cnn import SmallCNN
from ssdh_lightning.models.torchvision_backbones import NETWORKS, build_torchvision_backbone
from ssdh_lightning.preprocessing import Preprocessing
from ssdh_lightning.registry import Registry

# builder(preprocessing, weights_path, **options) -> a module with ``feature_dim``
BACKBONES: Registry[Callable[..., nn.Module]] = Registry("backbone", "model.backbone.name")


@BACKBONES.register("small_cnn")
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


# What the ImageNet networks are fed, as the paper feeds AlexNet: images resized to 256x256, random
# 227x227 crops in training, the centre crop for queries and database.
IMAGENET_INPUT = {"resize": (256, 256), "image_size": (227, 227)}


def input_size(name: str) -> dict[str, tuple[int, int]] | None:
    """The data keys ``resize`` and ``image_size`` for backbone ``name`` where a data config
    leaves ``image_size`` null; None: the data set's own (the small CNN: the native size of an
    in-memory set, 64x64 for image files)."""
    return IMAGENET_INPUT if name in NETWORKS else None


for _network in NETWORKS:
    BACKBONES.register(_network)(_torchvision(_network))


def build_backbone(
    name: str, preprocessing: Preprocessing, weights_path: str | None = None, **options
) -> nn.Module:
    """The backbone ``name``; ``weights_path`` is a local file of pretrained weights."""
    return BACKBONES[name](preprocessing, weights_path, **options)
