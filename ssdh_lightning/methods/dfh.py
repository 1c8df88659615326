"""DFH (Li, Pei, van Gemert, BMVC 2019, "Push for Quantization: Deep Fisher Hashing"): a pairwise
likelihood with a margin, plus quantisation toward binary codes that sit near a centre per class
(within-class) while the centres push apart (between-class), the centres updated by discrete
cyclic coordinate descent at every training step."""

from __future__ import annotations

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


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, num_classes): one-hot rows of class indices; multi-hot rows divided by their number
    of labels, as the authors' Main.py does for MS-COCO (a row without labels stays 0)."""
    if labels.dim() == 1:
        return F.one_hot(labels, num_classes).float()
    rows = labels.float()
    return rows / rows.sum(dim=1, keepdim=True).clamp(min=1)


def target_codes(
    relaxed: torch.Tensor, weights: torch.Tensor, centres: torch.Tensor, centre_weight: float
) -> torch.Tensor:
    """The B-step: b = sign(mu Y C + u), each item's code drawn toward its classes' centres."""
    return (centre_weight * weights @ centres + relaxed).sign()


def update_centres(
    centres: torch.Tensor, weights: torch.Tensor, codes: torch.Tensor, separation: float
) -> torch.Tensor:
    """The C-step, the authors' center.py Discretecenter: for each class i in turn,
    c_i = sign(q_i - sum_{j != i} (y_j . y_i) c_j - separation sum_{j != i} c_j), with
    q_i = sum_n y_ni b_n; each class sees the centres already updated before it."""
    centres = centres.clone()
    pulls = weights.T @ codes  # (num_classes, bits): q_i
    overlaps = weights.T @ weights  # (num_classes, num_classes): y_j . y_i
    for i in range(len(centres)):
        others = torch.arange(len(centres), device=centres.device) != i
        shared = overlaps[others, i] @ centres[others]
        centres[i] = (pulls[i] - shared - separation * centres[others].sum(dim=0)).sign()
    return centres


def dfh_loss(
    relaxed: torch.Tensor,
    similarity: torch.Tensor,
    codes: torch.Tensor,
    margin: float,
    quantisation_weight: float,
    pair_weights: str = "uniform",
) -> torch.Tensor:
    """Mean (``pair_mean``) over in-batch pairs of s log(1 + e^(m - theta))
    + (1 - s) log(1 + e^(m + theta)), theta = u_i.u_j / 2, plus ``quantisation_weight`` x the
    mean over items and bits of (b - u)^2."""
    pair_losses = pair_likelihood(relaxed @ relaxed.T / 2, similarity, margin)
    likelihood = pair_mean(pair_losses, similarity, pair_weights)
    quantisation = (codes - relaxed).pow(2).mean()
    return likelihood + quantisation_weight * quantisation


@METHODS.register("dfh")
class DFH(SignCodes):
    """u = the latent layer (the authors' fc_plus, a plain linear layer: bias 0 here); pairs
    drawn within the batch; codes sign(u). ``centres`` (num_classes, hash_bits) is a buffer,
    zeros at the start as in Main.py, updated from each training batch before its loss (not in
    evaluation), so the checkpoint carries them. Defaults from Main.py: mu 1, vul 1, eta 0.5 and
    margin 0 (DFH_loss.py computes the loss without its margin; the paper's margin is an option).
    ``pair_weights``: ``uniform`` as the authors; ``balanced`` as HashNet (``pair_mean``).
    """

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        margin: float = 0.0,
        quantisation_weight: float = 0.5,
        centre_weight: float = 1.0,
        separation: float = 1.0,
        pair_weights: str = "uniform",
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.margin = margin
        self.pair_weights = check_pair_weights(pair_weights)
        self.quantisation_weight = quantisation_weight
        self.centre_weight = centre_weight
        self.separation = separation
        self.register_buffer("centres", torch.zeros(num_classes, hash_bits))

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        weights = class_weights(batch.labels, self.num_classes)
        codes = target_codes(relaxed.detach(), weights, self.centres, self.centre_weight)
        if self.training:
            with torch.no_grad():
                self.centres.copy_(update_centres(self.centres, weights, codes, self.separation))
        similarity = label_similarity(batch.labels, self.num_classes)
        loss = dfh_loss(
            relaxed, similarity, codes, self.margin, self.quantisation_weight, self.pair_weights
        )
        return MethodLoss(loss, None)
