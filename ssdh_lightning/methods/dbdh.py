"""DBDH (Zheng, Zhang, Lu, Neurocomputing 2020): the pairwise likelihood and a balance term
computed on the discrete codes themselves, trained through a straight-through estimator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_similarity


def discrete_codes(latent: torch.Tensor) -> torch.Tensor:
    """b = sign(z) in the forward pass; in the backward pass the gradient of clamp(z, -1, 1):
    passed unchanged where |z| < 1, stopped where the unit is saturated."""
    clipped = latent.clamp(-1, 1)
    return clipped + (latent.sign() - clipped).detach()


def likelihood_term(codes: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Mean over in-batch pairs of log(1 + e^t) - s t, t = b_i.b_j / 2."""
    theta = codes @ codes.T / 2
    return (F.softplus(theta) - similarity * theta).mean()


def balance_term(codes: torch.Tensor) -> torch.Tensor:
    """Mean over items of (mean over bits of b)^2: 0 where a code has as many bits on as off."""
    return codes.mean(dim=1).pow(2).mean()


@METHODS.register("dbdh")
class DBDH(SignCodes):
    """likelihood_term + balance_weight * balance_term of b = discrete_codes(latent); codes
    sign(latent). balance_weight 0.1 and the square (DeepHash-pytorch DBDH.py: alpha 0.1, p 2;
    cisip-FIRe configs/templates/dbdh.yaml alike); the authors released no code. The latent
    layer starts with a bias of 0: from the paper's 1 every code starts all ones."""

    latent_bias = 0.0

    def __init__(self, hash_bits: int, num_classes: int, balance_weight: float = 0.1) -> None:
        super().__init__(hash_bits, num_classes)
        self.balance_weight = balance_weight

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        codes = discrete_codes(batch.latent)
        similarity = label_similarity(batch.labels, self.num_classes)
        loss = likelihood_term(codes, similarity) + self.balance_weight * balance_term(codes)
        return MethodLoss(loss, None)
