"""OrthoHash (Hoe, Ng, Zhang, Chan, Song, Xiang, NeurIPS 2021): one loss, the cross-entropy of
margin-reduced cosine similarities between each item's continuous code and every class's +-1
code."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.csq_centres import bernoulli_centres, check_enough_codes
from ssdh_lightning.methods.pairs import label_rows


def cosine_similarities(relaxed: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(B, C) cosine of each item's continuous code with each class's code."""
    return F.normalize(relaxed, dim=1) @ F.normalize(centres, dim=1).T


def orthohash_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor, scale: float, margin: float
) -> torch.Tensor:
    """Mean over items of -sum_c (y_c / |y|) log softmax(s (cos - m y))_c.

    The softmax cross-entropy of the cosines, scaled by s, each of the item's classes' reduced
    by the margin m (CosFace's additive cosine margin). One class an item: the plain
    cross-entropy; multi-hot rows: the authors' label smoothing, each of the item's classes
    1/|y| of the target. An item without labels adds 0.
    """
    targets = label_rows(labels, len(centres))
    logits = scale * (cosine_similarities(relaxed, centres) - margin * targets)
    shares = targets / targets.sum(dim=1, keepdim=True).clamp(min=1)
    return -(shares * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@METHODS.register("orthohash")
class OrthoHash(SignCodes):
    """v = BatchNorm(latent), the authors' hash layer (a linear layer without a bias, then
    BatchNorm1d: the bits balance over each batch); codes sign(v), the normalisation taken with
    its running statistics so that an image's code does not depend on its batch. One +-1 code
    per class, distinct Bernoulli(1/2) draws from ``centre_seed`` (kamwoh/orthohash main.py:
    --codebook-method B, --scale 8, --margin 0.2)."""

    latent_bias = 0.0  # BatchNorm removes any bias; the authors' layer has none

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        scale: float = 8.0,
        margin: float = 0.2,
        centre_seed: int = 0,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        check_enough_codes(self.name, num_classes, hash_bits)
        self.scale, self.margin = scale, margin
        generator = torch.Generator().manual_seed(centre_seed)
        self.register_buffer("centres", bernoulli_centres(num_classes, hash_bits, generator))
        self.batch_norm = nn.BatchNorm1d(hash_bits, momentum=0.1)

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        # a batch of one has no spread to normalise by: it takes the running statistics
        if self.training and len(latent) > 1:
            return self.batch_norm(latent)
        return self._normalised_by_running_statistics(latent)

    def codes(self, latent: torch.Tensor) -> torch.Tensor:
        return self._normalised_by_running_statistics(latent) > 0

    def _normalised_by_running_statistics(self, latent: torch.Tensor) -> torch.Tensor:
        norm = self.batch_norm
        return F.batch_norm(
            latent,
            norm.running_mean,
            norm.running_var,
            norm.weight,
            norm.bias,
            training=False,
            eps=norm.eps,
        )

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        loss = orthohash_loss(relaxed, batch.labels, self.centres, self.scale, self.margin)
        return MethodLoss(loss, None)
