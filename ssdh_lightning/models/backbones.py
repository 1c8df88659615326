"""Backbones by name (``BACKBONES``, what ``model.backbone.name`` takes): each builder maps
normalised images to ``features`` and tells ``feature_dim``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from ssdh_lightning.conf_files import CONF_DIR, read_conf
from ssdh_lightning.models.small_cnn import SmallCNN
from ssdh_lightning.models.timm_backbones import build_timm_backbone, timm_input
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
            f"pretrained weights exist for {sorted(NETWORKS)} and timm's models (model=timm)"
        )
    return SmallCNN(preprocessing.channels, preprocessing.image_size, **options)


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(preprocessing: Preprocessing, weights_path: str | None, **options) -> nn.Module:
        return build_torchvision_backbone(
            name, preprocessing.channels, weights_path=weights_path, **options
        )

    return build


for _network in NETWORKS:
    BACKBONES.register(_network)(_torchvision(_network))


@BACKBONES.register("timm")
def _timm(preprocessing: Preprocessing, weights_path: str | None, **options) -> nn.Module:
    return build_timm_backbone(
        in_channels=preprocessing.channels, weights_path=weights_path, **options
    )


# What the ImageNet networks are fed, as the paper feeds AlexNet: images resized to 256x256, random
# 227x227 crops in training, the centre crop for queries and database; ImageNet's mean and std.
IMAGENET_INPUT = {"resize": [256, 256], "image_size": [227, 227], "normalization": "torchvision"}


def model_input(backbone: Mapping[str, Any]) -> dict[str, Any] | None:
    """The data keys ``image_size``, ``resize`` and ``normalization`` that the backbone of
    ``model.backbone`` expects, for a data config that leaves them null: a timm model's from its
    pretrained config, the torchvision networks' ``IMAGENET_INPUT``. None: the data set's own
    (the small CNN: the native size of an in-memory set, 64x64 for image files)."""
    options = dict(backbone)
    name = options.pop("name")
    if name == "timm":
        options.pop("weights", None)
        return timm_input(options.pop("model", None), **options)
    return IMAGENET_INPUT if name in NETWORKS else None


def backbone_label(backbone: Mapping[str, Any]) -> str:
    """The backbone's name in run.json and reports: ``timm/<model>`` for a timm model, with the
    options that differ from its conf/model/ file (``small_cnn widths=[32,64,128]``,
    ``alexnet weights=null``), so that a report never pools two networks."""
    name = backbone["name"]
    defaults = read_conf(CONF_DIR / "model" / f"{name}.yaml").get("backbone") or {}
    changes = [
        f"{key}={_shown(value)}"
        for key, value in sorted(backbone.items())
        if key not in ("name", "model") and (key not in defaults or defaults[key] != value)
    ]
    label = f"timm/{backbone.get('model')}" if name == "timm" else name
    return " ".join([label, *changes])


def _shown(value: Any) -> str:
    """A value as a Hydra override writes it: ``[32,64,128]``, ``null``, ``true``, ``name``."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def build_backbone(
    name: str, preprocessing: Preprocessing, weights_path: str | None = None, **options
) -> nn.Module:
    """The backbone ``name``; ``weights_path`` is a local file of pretrained weights."""
    return BACKBONES[name](preprocessing, weights_path, **options)
