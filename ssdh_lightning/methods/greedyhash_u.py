"""GreedyHash, unsupervised (Su et al., NeurIPS 2018): codes that keep the features' cosine
similarity, sign forward with the gradient passed straight through, cubic penalty."""

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.greedyhash import cubic_penalty, sign_straight_through
from ssdh_lightning.methods.pairs import cosine_preservation


def batch_centred(features: torch.Tensor) -> torch.Tensor:
    """``features`` less their mean over the batch."""
    return features - features.mean(dim=0, keepdim=True)


@METHODS.register("greedyhash_u")
class GreedyHashUnsupervised(SignCodes):
    """h = the latent layer; b = sign(h), the gradient straight through; loss: the mean squared
    difference of cos(b_i, b_j) and cos(x_i, x_j) over the pairs of the batch's two halves (x:
    the backbone's features) + ``alpha`` * cubic penalty; ssppp/GreedyHash unsupervised_vgg.py
    (``loss1 + 0.1 * loss2``). Uses no labels. The latent layer starts with a bias of 0 (the
    authors' plain nn.Linear).

    ``centre_features`` (a departure from the authors, default on): x less its batch mean
    before the cosine. Non-negative (ReLU) features whose cosines all lie far above 0 (0.48 to
    1 on an untrained network) ask every pair of codes to agree on most bits, and the codes
    collapse to a few; centred, the target cosines spread around 0 and the codes must use every
    bit, as the pretrained fc7 features the authors train on spread theirs."""

    uses_labels = False
    latent_bias = 0.0
    trains_backbone = False  # the authors' code gives the optimiser the hash layer alone

    def __init__(
        self, hash_bits: int, num_classes: int, alpha: float = 0.1, centre_features: bool = True
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.alpha = alpha
        self.centre_features = centre_features

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        features = batch_centred(batch.features) if self.centre_features else batch.features
        similarity = cosine_preservation(sign_straight_through(batch.latent), features)
        return MethodLoss(similarity + self.alpha * cubic_penalty(batch.latent), None)
