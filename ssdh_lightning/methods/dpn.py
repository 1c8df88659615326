"""DPN (Fan, Ng, Ju, Zhang, Chan, IJCAI 2020): every bit of the hash layer polarised towards its
class's target bit, beyond a margin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.csq_centres import bernoulli_centres, check_enough_codes
from ssdh_lightning.methods.pairs import label_rows


def polarisation_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean over items of sum over the item's classes c and the bits k of max(m - v_k t_ck, 0).

    One class an item: the authors' single-label loss; multi-hot rows: their multi-label one, the
    loss towards each of the item's classes' targets, summed (kamwoh/DPN calculate_loss).
    """
    hinge = F.relu(margin - relaxed.unsqueeze(1) * centres.unsqueeze(0))  # (B, C, bits)
    per_class = hinge.sum(dim=2)
    return (per_class * label_rows(labels, len(centres))).sum(dim=1).mean()


@METHODS.register("dpn")
class DPN(SignCodes):
    """v = the latent layer (the authors' hash layer is linear, without a bias: it starts at 0
    here); codes sign(v). One +-1 target per class, distinct Bernoulli(1/2) draws from
    ``centre_seed`` kept as a buffer (kamwoh/DPN main.py: --centroid-method N, the sign of a
    Gaussian draw; --margin 1.0)."""

    latent_bias = 0.0

    def __init__(
        self, hash_bits: int, num_classes: int, margin: float = 1.0, centre_seed: int = 0
    ) -> None:
        super().__init__(hash_bits, num_classes)
        check_enough_codes(self.name, num_classes, hash_bits)
        self.margin = margin
        generator = torch.Generator().manual_seed(centre_seed)
        self.register_buffer("centres", bernoulli_centres(num_classes, hash_bits, generator))

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        return MethodLoss(polarisation_loss(relaxed, batch.labels, self.centres, self.margin), None)
