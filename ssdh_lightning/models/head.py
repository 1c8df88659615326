"""The hashing head of Lin et al.: latent layer H of ``hash_bits`` units, and the classifier that
the methods with a classification loss put on its codes."""

from __future__ import annotations

import torch
from torch import nn

# Initialisation of the paper's latent layer (PROTOCOL.md) and of its new classifier.
LATENT_WEIGHT_STD, LATENT_BIAS = 0.005, 1.0
CLASSIFIER_WEIGHT_STD = 0.01


class HashingHead(nn.Module):
    """``latent_init_std`` is the paper's 0.005 by default, sized for AlexNet's fc7; smaller
    features need a wider start, or every code starts equal and learns nothing for many epochs.
    ``num_classes`` None: no classifier (a method whose loss has none, e.g. DPSH)."""

    def __init__(
        self,
        feature_dim: int,
        hash_bits: int,
        num_classes: int | None,
        dropout: float = 0.0,
        latent_init_std: float = LATENT_WEIGHT_STD,
        latent_bias: float = LATENT_BIAS,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.latent = nn.Linear(feature_dim, hash_bits)
        nn.init.normal_(self.latent.weight, std=latent_init_std)
        nn.init.constant_(self.latent.bias, latent_bias)
        self.classifier = None
        if num_classes is not None:
            self.classifier = nn.Linear(hash_bits, num_classes)
            nn.init.normal_(self.classifier.weight, std=CLASSIFIER_WEIGHT_STD)
            nn.init.zeros_(self.classifier.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The latent layer's pre-activations (B, hash_bits): sigmoid of them are the ``probs``."""
        return self.latent(self.dropout(features))
