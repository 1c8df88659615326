"""DBDH (Zheng, Zhang, Lu, Neurocomputing 2020): the pairwise likelihood and a balance term on
codes clipped to [-1, 1], exactly +-1 wherever a unit saturates."""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import (
    check_pair_weights,
    label_similarity,
    pair_likelihood,
    pair_mean,
)


def likelihood_term(
    relaxed: torch.Tensor, similarity: torch.Tensor, pair_weights: str = "uniform"
) -> torch.Tensor:
    """Mean (``pair_mean``) over in-batch pairs of log(1 + e^t) - s t, t = b_i.b_j / 2."""
    pair_losses = pair_likelihood(relaxed @ relaxed.T / 2, similarity)
    return pair_mean(pair_losses, similarity, pair_weights)


def balance_term(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over items of (mean over bits of b)^2: 0 where a code has as many bits on as off."""
    return relaxed.mean(dim=1).pow(2).mean()


@METHODS.register("dbdh")
class DBDH(SignCodes):
    """b = clamp(latent, -1, 1): the gradient of the paper's straight-through sign (passed where
    |z| < 1, stopped where the unit is saturated), and in the forward pass the clipped value
    rather than sign(z) (see the README's Methods table: from the small CNN's start the sign's
    full-size gradient kills the features). likelihood_term + balance_weight * balance_term;
    codes sign(latent). balance_weight 0.1 and the square: DeepHash-pytorch DBDH.py (alpha 0.1,
    p 2), cisip-FIRe configs/templates/dbdh.yaml alike; the authors released no code. The latent
    layer starts with a bias of 0, as their plain linear hash layer does.
    ``pair_weights``: ``uniform`` as the authors; ``balanced`` as HashNet (``pair_mean``)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        balance_weight: float = 0.1,
        pair_weights: str = "uniform",
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.balance_weight = balance_weight
        self.pair_weights = check_pair_weights(pair_weights)

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return latent.clamp(-1, 1)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        similarity = label_similarity(batch.labels, self.num_classes)
        likelihood = likelihood_term(relaxed, similarity, self.pair_weights)
        loss = likelihood + self.balance_weight * balance_term(relaxed)
        return MethodLoss(loss, None)
