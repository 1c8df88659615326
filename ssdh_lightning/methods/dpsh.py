"""DPSH (Li, Wang, Kang, IJCAI 2016): pairwise likelihood of inner products, plus quantisation."""

import torch
import torch.nn.functional as F

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
