"""DHN (Zhu, Long, Wang, Cao, AAAI 2016): pairwise likelihood of inner products, plus a smooth
quantisation loss (log cosh, the paper's surrogate of |x|)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import (
    check_pair_weights,
    label_similarity,
    pair_likelihood,
    pair_mean,
)


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """log cosh x = |x| + log(1 + e^(-2|x|)) - log 2, finite where cosh overflows."""
    magnitude = x.abs()
    return magnitude + F.softplus(-2 * magnitude) - math.log(2.0)


def smooth_quantisation(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over items and bits of log cosh(|z| - 1)."""
    return log_cosh(relaxed.abs() - 1).mean()


def dhn_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    quantisation_weight: float,
    pair_weights: str = "uniform",
) -> torch.Tensor:
    """Mean (``pair_mean``) over in-batch pairs of log(1 + e^theta) - s theta,
    theta = <z_i, z_j>, plus ``quantisation_weight`` x the smooth quantisation."""
    similarity = label_similarity(labels, num_classes)
    pair_losses = pair_likelihood(relaxed @ relaxed.T, similarity)
    likelihood = pair_mean(pair_losses, similarity, pair_weights)
    return likelihood + quantisation_weight * smooth_quantisation(relaxed)


@METHODS.register("dhn")
class DHN(SignCodes):
    """z = the latent layer, bias 0 (the paper's fch; from a bias of 1 every inner product starts
    at hash_bits); pairs drawn within the batch; theta the plain inner product (the paper's
    sigma(<z_i, z_j>), without DPSH's 1/2); codes sign(z). ``quantisation_weight`` 0.1: the
    paper cross-validates it and reports no value, so it is DeepHash-pytorch's (DHN.py alpha).
    ``pair_weights``: ``uniform`` as the authors; ``balanced`` as HashNet (``pair_mean``)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        quantisation_weight: float = 0.1,
        pair_weights: str = "uniform",
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.quantisation_weight = quantisation_weight
        self.pair_weights = check_pair_weights(pair_weights)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        loss = dhn_loss(
            relaxed, batch.labels, self.num_classes, self.quantisation_weight, self.pair_weights
        )
        return MethodLoss(loss, None)
