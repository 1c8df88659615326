"""DSHSD (IEEE Access 2019, "Deep Supervised Hashing Based on Stable Distribution"): the
classifier's loss on the tanh-smoothed codes, plus a contrastive loss between them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes, is_multi_label
from ssdh_lightning.methods.pairs import contrastive_pairs, label_similarity


def dshsd_classification(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy for class indices; for multi-hot rows the sigmoid cross-entropy
    summed over the classes, then averaged over the items (the paper's Eq. 7 and 8, as
    DeepHash-pytorch DSHSD.py cites them)."""
    if is_multi_label(labels):
        per_class = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
        return per_class.sum(dim=1).mean()
    return F.cross_entropy(logits, labels)


@METHODS.register("dshsd")
class DSHSD(SignCodes):
    """u = tanh(latent), codes sign(u); the head's classifier on u. Loss: classification +
    ``alpha`` x the mean over the batch's B x B pairs of pairs.contrastive_pairs(u), margin
    2 x hash_bits (DeepHash-pytorch DSHSD.py and PaddleClas deephashloss.py alike: alpha 0.05,
    m = 2 * bit). The latent layer starts with a bias of 0, as their plain linear hash layer
    does."""

    classifies = True
    latent_bias = 0.0

    def __init__(self, hash_bits: int, num_classes: int, alpha: float = 0.05) -> None:
        super().__init__(hash_bits, num_classes)
        self.alpha = alpha

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(latent)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        logits = classifier(relaxed)
        similarity = label_similarity(batch.labels, self.num_classes)
        distance = contrastive_pairs(relaxed, similarity, margin=2.0 * self.hash_bits).mean()
        loss = dshsd_classification(logits, batch.labels) + self.alpha * distance
        return MethodLoss(loss, logits)
