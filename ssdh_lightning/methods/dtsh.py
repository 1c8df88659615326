"""DTSH (Wang, Shi, Kitani, ACCV 2016): likelihood of triplet labels with a margin, triplets drawn
within the batch, plus quantisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_similarity
from ssdh_lightning.methods.quantisation import sign_quantisation

# Triplet cells scored at once: each (anchor, positive) pair is scored against every item of the
# batch, so a batch of B items with P such pairs has P x B cells, up to B^3 (134M for a validation
# batch of 512 items of one or two classes); the pairs are taken a chunk at a time.
_TRIPLET_CELLS = 2**22


def triplet_term(relaxed: torch.Tensor, similarity: torch.Tensor, margin: float) -> torch.Tensor:
    """Every in-batch triplet (anchor a, positive p != a sharing a label, negative n sharing none):
    -log sigmoid(theta_ap - theta_an - margin), theta = u.u / 2; the mean over each anchor's
    triplets, then over the anchors that have one (0 when no anchor has both kinds)."""
    count = len(relaxed)
    theta = relaxed @ relaxed.T / 2
    others = ~torch.eye(count, dtype=torch.bool, device=relaxed.device)
    positive = (similarity > 0) & others
    negative = similarity == 0
    anchors, positives = positive.nonzero(as_tuple=True)
    sums = torch.zeros(count, dtype=theta.dtype, device=theta.device)
    chunk = max(1, _TRIPLET_CELLS // count)
    for start in range(0, len(anchors), chunk):
        anchor, positive_item = anchors[start : start + chunk], positives[start : start + chunk]
        scores = theta[anchor, positive_item][:, None] - theta[anchor] - margin
        losses = (F.softplus(-scores) * negative[anchor]).sum(dim=1)
        sums = sums.index_add(0, anchor, losses)
    per_anchor = positive.sum(dim=1) * negative.sum(dim=1)
    anchor_means = sums / per_anchor.clamp(min=1)  # 0 for an anchor without any
    return anchor_means.sum() / (per_anchor > 0).sum().clamp(min=1)


def dtsh_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    margin: float,
    quantisation_weight: float,
) -> torch.Tensor:
    similarity = label_similarity(labels, num_classes)
    triplets = triplet_term(relaxed, similarity, margin)
    return triplets + quantisation_weight * sign_quantisation(relaxed)


@METHODS.register("dtsh")
class DTSH(SignCodes):
    """u = the latent layer (the authors' fc8, N(0, 0.01^2) weights and bias: bias 0 here);
    codes sign(u). ``margin`` hash_bits / 2 unless given (DTSH.m passes codelens / 2);
    ``quantisation_weight`` 100 / 22,500: DTSH.m's eta = 100 on a loss summed over
    train_triplet.m's 50 x 50 x 9 = 22,500 triplets an anchor, here against their mean."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        margin: float | None = None,
        quantisation_weight: float = 100 / 22_500,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.margin = hash_bits / 2 if margin is None else margin
        self.quantisation_weight = quantisation_weight

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        loss = dtsh_loss(
            self.relaxed(batch.latent),
            batch.labels,
            self.num_classes,
            self.margin,
            self.quantisation_weight,
        )
        return MethodLoss(loss, None)
