"""Lin et al., CVPRW 2015: the classifier's loss on the latent sigmoid layer, nothing else."""

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


@METHODS.register("lin2015")
class Lin2015(SigmoidCodes):
    """Softmax loss of the classifier on ``sigmoid(latent)`` (sigmoid cross-entropy for
    multi-hot labels); codes ``probs > 0.5``."""

    classifies = True

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        logits = classifier(torch.sigmoid(latent))
        return MethodLoss(classification_loss(logits, labels), logits)
