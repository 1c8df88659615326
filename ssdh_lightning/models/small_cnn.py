"""A small CNN for small images (digits, MNIST, CIFAR-10 on a CPU)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Blocks of conv3x3-BN-ReLU, each halving the image while it is 8 pixels or more, then a fully
    connected layer with ReLU whose activations are the ``features`` (the analogue of fc7)."""

    def __init__(
        self,
        in_channels: int,
        image_size: Sequence[int],
        widths: Sequence[int] = (32, 64),
        feature_dim: int = 256,
    ) -> None:
        super().__init__()
        if not widths or any(w < 1 for w in widths) or feature_dim < 1:
            raise ValueError(
                f"SmallCNN needs positive widths and feature_dim, got {list(widths)}, {feature_dim}"
            )
        layers: list[nn.Module] = []
        height, width = image_size
        channels = in_channels
        for out_channels in widths:
            layers += [
                nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if min(height, width) >= 8:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            channels = out_channels
        self.convolutions = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * height * width, feature_dim), nn.ReLU(inplace=True)
        )
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convolutions(images))
