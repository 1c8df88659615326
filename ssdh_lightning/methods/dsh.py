"""DSH (Liu, Wang, Shan, Chen, CVPR 2016): contrastive loss on the relaxed codes with a margin,
plus an L1 regulariser pulling every output toward +-1."""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import contrastive_pairs, label_similarity


def contrastive_term(
    relaxed: torch.Tensor, similarity: torch.Tensor, margin: float
) -> torch.Tensor:
    """Sum over the pairs i < j of 1/2 s D + 1/2 (1 - s) max(margin - D, 0), D = ||u_i - u_j||^2,
    divided by N (N - 1): the paper's pair loss, scaled as the authors' hashing_loss_layer.cpp
    scales its gradient (a batch of one item has no pair and adds 0)."""
    pair_loss = contrastive_pairs(relaxed, similarity, margin)
    count = len(relaxed)
    upper = torch.ones(count, count, dtype=torch.bool, device=relaxed.device).triu(diagonal=1)
    return pair_loss[upper].sum() / max(count * (count - 1), 1)


def binary_regulariser(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over items of || |u| - 1 ||_1: 0 exactly where every output is +-1."""
    return (relaxed.abs() - 1).abs().sum(dim=1).mean()


def dsh_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    margin: float,
    regulariser_weight: float,
) -> torch.Tensor:
    similarity = label_similarity(labels, num_classes)
    return contrastive_term(relaxed, similarity, margin) + regulariser_weight * binary_regulariser(
        relaxed
    )


@METHODS.register("dsh")
class DSH(SignCodes):
    """u = the latent layer (the authors' ``ip1`` is a plain inner-product layer, bias 0); pairs
    drawn within the batch, as the authors' layer does; codes sign(u). ``margin`` 2 x hash_bits
    unless given (bi_margin 24 for 12 bits, 48 for 24 in the authors' prototxts);
    ``regulariser_weight`` 0.01 (their ``tradeoff``)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        margin: float | None = None,
        regulariser_weight: float = 0.01,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.margin = 2.0 * hash_bits if margin is None else margin
        self.regulariser_weight = regulariser_weight

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        loss = dsh_loss(
            self.relaxed(batch.latent),
            batch.labels,
            self.num_classes,
            self.margin,
            self.regulariser_weight,
        )
        return MethodLoss(loss, None)
