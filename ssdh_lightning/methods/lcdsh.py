"""LCDSH (Zhu, Gao, IJCAI 2017): a pairwise likelihood on the relaxed codes, plus a locality
constraint: each pair's probability of being similar, read from the binary codes, stays that of
the relaxed codes."""

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


def locality_term(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over in-batch pairs of (sigmoid(u_i.u_j / 2) - sigmoid(b_i.b_j / 2))^2, b = sign(u)."""
    codes = relaxed.sign()
    relaxed_probability = torch.sigmoid(relaxed @ relaxed.T / 2)
    binary_probability = torch.sigmoid(codes @ codes.T / 2)
    return (relaxed_probability - binary_probability).pow(2).mean()


def lcdsh_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    locality_weight: float,
    pair_weights: str = "uniform",
) -> torch.Tensor:
    """Mean (``pair_mean``) over in-batch pairs of log(1 + e^(-s' theta)), s' = +-1,
    theta = u_i.u_j / 2 (DPSH's likelihood), plus ``locality_weight`` x the locality term."""
    similarity = label_similarity(labels, num_classes)
    pair_losses = pair_likelihood(relaxed @ relaxed.T / 2, similarity)
    likelihood = pair_mean(pair_losses, similarity, pair_weights)
    return likelihood + locality_weight * locality_term(relaxed)


@METHODS.register("lcdsh")
class LCDSH(SignCodes):
    """u = the latent layer, bias 0 (as DPSH's: from a bias of 1 every code starts equal); pairs
    drawn within the batch; codes sign(u). The authors released no code: the terms are the
    paper's as DeepHash-pytorch's LCDSH.py writes them, and ``locality_weight`` 3 is its lambda.
    ``pair_weights``: ``uniform`` as the authors; ``balanced`` as HashNet (``pair_mean``).
    """

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        locality_weight: float = 3.0,
        pair_weights: str = "uniform",
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.locality_weight = locality_weight
        self.pair_weights = check_pair_weights(pair_weights)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        loss = lcdsh_loss(
            relaxed, batch.labels, self.num_classes, self.locality_weight, self.pair_weights
        )
        return MethodLoss(loss, None)
