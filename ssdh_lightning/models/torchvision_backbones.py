"""torchvision networks as backbones: AlexNet (the paper's, cut at fc7), VGG16, ResNet-50.

ImageNet weights come through torchvision's weights API (downloaded once into torch's hub cache)
or from a local file of the network's state dict; offline without either, the error says both.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

_Truncate = Callable[[nn.Module], nn.Module]


def _alexnet_fc7(net: nn.Module) -> nn.Module:
    # features -> avgpool -> [dropout, fc6, relu, dropout, fc7, relu]: fc7 after its ReLU
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(), *net.classifier[:6])


def _vgg16_fc7(net: nn.Module) -> nn.Module:
    # features -> avgpool -> [fc6, relu, dropout, fc7, relu]
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(), *net.classifier[:5])


def _resnet50_pool(net: nn.Module) -> nn.Module:
    net.fc = nn.Identity()  # the 2048-d average-pooled activations
    return net


# name -> (builder, feature_dim, the cut that keeps the network up to ``features``)
NETWORKS: dict[str, tuple[Callable[..., nn.Module], int, _Truncate]] = {
    "alexnet": (torchvision.models.alexnet, 4096, _alexnet_fc7),
    "vgg16": (torchvision.models.vgg16, 4096, _vgg16_fc7),
    "resnet50": (torchvision.models.resnet50, 2048, _resnet50_pool),
}


class TorchvisionBackbone(nn.Module):
    """A torchvision network cut at its ``features`` layer; grey images are repeated to RGB."""

    def __init__(self, body: nn.Module, feature_dim: int, in_channels: int) -> None:
        super().__init__()
        self.body = body
        self.feature_dim = feature_dim
        self.in_channels = in_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.body(images)


def _weights_enum(name: str, weights: str):
    enum = torchvision.models.get_model_weights(name)
    try:
        return enum[weights]
    except KeyError:
        raise ValueError(
            f"unknown weights {weights!r} for {name}; model.backbone.weights must be one of "
            f"{[w.name for w in enum]} or null (random initialisation)"
        ) from None


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"model.weights_path={path} does not exist; give the path of a state dict saved with "
            "torch.save(torchvision.models.<network>(weights=...).state_dict(), path)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"model.weights_path={path} cannot be read as a state dict: {error}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


def _download(name: str, weights: str) -> dict[str, torch.Tensor]:
    enum = _weights_enum(name, weights)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    try:
        return enum.get_state_dict(progress=False)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"the ImageNet weights {type(enum).__name__}.{weights} could not be downloaded "
            f"({error}). Either put the file {Path(enum.url).name} (from {enum.url}) at "
            f"{cached}, where torchvision looks first, or pass model.weights_path=PATH to a "
            f"local state dict of torchvision.models.{name}"
        ) from None


def build_torchvision_backbone(
    name: str, in_channels: int, weights: str | None = None, weights_path: str | None = None
) -> TorchvisionBackbone:
    """``name`` with ImageNet ``weights`` (a torchvision enum name) or the file ``weights_path``
    (which wins when both are given); neither gives a random initialisation."""
    builder, feature_dim, truncate = NETWORKS[name]
    net = builder(weights=None)
    if weights_path is not None:
        state = _read_weights_file(Path(weights_path))
    elif weights is not None:
        state = _download(name, weights)
    else:
        state = None
    if state is not None:
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            source = weights_path or weights
            raise ValueError(
                f"the weights {source} do not fit torchvision's {name}: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
    return TorchvisionBackbone(truncate(net), feature_dim, in_channels)
