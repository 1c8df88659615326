"""IDHN (Zhang, Zou, Lin, Chen, Wang, TMM 2019): pairwise loss on a soft similarity, the cosine
of two items' label sets, for multi-label data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_cosine_similarity

# Pairs whose label cosine lies within these bounds are partially similar (pectinid16/IDHN
# train.py hashing_loss: 0.01 and 0.99); the others are taken as dissimilar or fully similar.
_PARTIAL = (0.01, 0.99)


def pair_loss(
    relaxed: torch.Tensor, similarity: torch.Tensor, scale: float, partial_weight: float
) -> torch.Tensor:
    """Mean over in-batch pairs; with p = u_i.u_j and K bits:
    dissimilar or fully similar pairs: the likelihood log(1 + e^t) - s t, t = scale p / K;
    partially similar ones: partial_weight K ((p + K) / (2K) - s)^2, the code's similarity
    (p + K) / 2K, in [0, 1], held to the labels' cosine s."""
    bits = relaxed.shape[1]
    product = relaxed @ relaxed.T
    theta = scale * product / bits
    likelihood = F.softplus(theta) - similarity * theta
    squared = partial_weight * bits * ((product + bits) / (2 * bits) - similarity).pow(2)
    partial = (similarity >= _PARTIAL[0]) & (similarity <= _PARTIAL[1])
    return torch.where(partial, squared, likelihood).mean()


def quantisation_term(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over items and bits of | |u| - 1 |."""
    return (relaxed.abs() - 1).abs().mean()


@METHODS.register("idhn")
class IDHN(SignCodes):
    """u = softsign(latent) = latent / (1 + |latent|), codes sign(u) (the authors' fc8 then
    tf.nn.softsign; test.py: a bit is on where u > 0). pair_loss + quantisation_weight *
    quantisation_term; pectinid16/IDHN train.py: --belta 5 (scale), --gama 0.1 (partial_weight),
    --alpha 0.1 (quantisation_weight). The latent layer starts with a bias of 0: from the paper's
    1 every code starts at the same all-ones code."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        scale: float = 5.0,
        partial_weight: float = 0.1,
        quantisation_weight: float = 0.1,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.scale = scale
        self.partial_weight = partial_weight
        self.quantisation_weight = quantisation_weight

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return F.softsign(latent)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        similarity = label_cosine_similarity(batch.labels, self.num_classes)
        loss = pair_loss(relaxed, similarity, self.scale, self.partial_weight)
        loss = loss + self.quantisation_weight * quantisation_term(relaxed)
        return MethodLoss(loss, None)
