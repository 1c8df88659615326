"""SSDH (Yang, Lin, Chen, TPAMI 2017): the classification loss plus two terms on the latent
sigmoid layer, in the forms of the authors' Caffe layers (kevinlin311tw/Caffe-DeepBinaryCode,
src/caffe/layers/K1_euclidean_loss_layer.cpp and K2_euclidean_loss_layer.cpp)."""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import (
    METHODS,
    LatentBatch,
    MethodLoss,
    SigmoidCodes,
    classification_loss,
)


def binarisation_term(probs: torch.Tensor) -> torch.Tensor:
    """K1: -(1 / 2NK) sum_{n,k} (h_nk - 0.5)^2, lower as each unit moves away from 0.5."""
    return -(probs - 0.5).pow(2).mean() / 2


def balance_term(probs: torch.Tensor) -> torch.Tensor:
    """K2: (1 / 2N) sum_n (mean_k h_nk - 0.5)^2. Each image's own mean over its bits (the
    prototxt average-pools the latent layer over its K units before K2), so every code has
    about half its bits on; not the batch's mean per unit."""
    return (probs.mean(dim=1) - 0.5).pow(2).mean() / 2


@METHODS.register("ssdh")
class SSDH(SigmoidCodes):
    """classification_weight * classification + binarisation_weight * K1 + balance_weight * K2;
    the released train_val.prototxt gives every one loss_weight 1."""

    classifies = True

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        classification_weight: float = 1.0,
        binarisation_weight: float = 1.0,
        balance_weight: float = 1.0,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.classification_weight = classification_weight
        self.binarisation_weight = binarisation_weight
        self.balance_weight = balance_weight

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        probs = torch.sigmoid(latent)
        logits = classifier(probs)
        loss = (
            self.classification_weight * classification_loss(logits, labels)
            + self.binarisation_weight * binarisation_term(probs)
            + self.balance_weight * balance_term(probs)
        )
        return MethodLoss(loss, logits)
