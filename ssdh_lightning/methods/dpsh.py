"""DPSH (Li, Wang, Kang, IJCAI 2016): pairwise likelihood of inner products, plus quantisation."""

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_similarity


def dpsh_loss(
    relaxed: torch.Tensor, labels: torch.Tensor, num_classes: int, eta: float
) -> torch.Tensor:
    """Mean over in-batch pairs of log(1 + e^theta) - s * theta, theta = u_i.u_j / 2,
    plus eta * mean over items of |u - sign(u)|^2.

    softplus is log(1 + e^theta) without overflow for large inner products.
    """
    similarity = label_similarity(labels, num_classes)
    theta = relaxed @ relaxed.T / 2
    likelihood = (F.softplus(theta) - similarity * theta).mean()
    quantisation = (relaxed - relaxed.sign()).pow(2).sum(dim=1).mean()
    return likelihood + eta * quantisation


@METHODS.register("dpsh")
class DPSH(SignCodes):
    """Relaxed codes u = the latent layer itself (DPSH-pytorch's CNN-F ends in a plain linear
    layer); pairs drawn within the batch; codes sign(u). That layer starts with a bias of 0
    (torch's default linear layer): from the paper's bias of 1 every relaxed code starts at the
    same all-ones code, and u_i.u_j / 2 starts at hash_bits / 2 for every pair."""

    latent_bias = 0.0

    def __init__(self, hash_bits: int, num_classes: int, eta: float = 0.01) -> None:
        super().__init__(hash_bits, num_classes)
        self.eta = eta

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        return MethodLoss(dpsh_loss(self.relaxed(latent), labels, self.num_classes, self.eta), None)
