"""CSQ (Yuan et al., CVPR 2020): binary cross-entropy of each item's relaxed code to its hash
centre, plus quantisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes, is_multi_label
from ssdh_lightning.methods.csq_centres import hash_centres


def target_centres(
    labels: torch.Tensor, centres: torch.Tensor, tie_centre: torch.Tensor
) -> torch.Tensor:
    """Each item's +-1 centre: its class's for class indices (B,); for multi-hot rows (B, C)
    the binarised mean of its classes' centres, a bit where the mean is 0 taken from
    ``tie_centre`` (one fixed +-1 draw, as the authors' Hash_center_multilables does)."""
    if not is_multi_label(labels):
        return centres[labels]
    total = labels.float() @ centres  # the sign of the sum is the sign of the mean
    return torch.where(total == 0, tie_centre, total.sign())


def csq_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    centres: torch.Tensor,
    tie_centre: torch.Tensor,
    quantisation_weight: float,
) -> torch.Tensor:
    """Mean BCE between (u + 1)/2 and (c + 1)/2 per bit, plus weight * mean (|u| - 1)^2."""
    target = (target_centres(labels, centres, tie_centre) + 1) / 2
    central = F.binary_cross_entropy((relaxed + 1) / 2, target)
    quantisation = (relaxed.abs() - 1).pow(2).mean()
    return central + quantisation_weight * quantisation


@METHODS.register("csq")
class CSQ(SignCodes):
    """u = tanh(latent); centres drawn once from ``centre_seed`` and kept as buffers, so a
    checkpoint's centres (Bernoulli draws included) are the ones it was trained towards.
    ``quantisation_weight`` 0.05: lambda2 of the authors' options.py (lambda0, the centre
    loss's, is 1)."""

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        quantisation_weight: float = 0.05,
        centre_seed: int = 0,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.quantisation_weight = quantisation_weight
        generator = torch.Generator().manual_seed(centre_seed)
        self.register_buffer("centres", hash_centres(num_classes, hash_bits, generator))
        tie = torch.randint(0, 2, (hash_bits,), generator=generator).float() * 2 - 1
        self.register_buffer("tie_centre", tie)

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(latent)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        loss = csq_loss(
            self.relaxed(latent), labels, self.centres, self.tie_centre, self.quantisation_weight
        )
        return MethodLoss(loss, None)
