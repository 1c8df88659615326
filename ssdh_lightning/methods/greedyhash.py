"""GreedyHash (Su et al., NeurIPS 2018): sign forward, gradient straight through, cubic penalty."""

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes


class _SignStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, relaxed: torch.Tensor) -> torch.Tensor:
        return relaxed.sign()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # the greedy step: the loss's gradient at b = sign(h) is applied to h unchanged
        return grad


def sign_straight_through(relaxed: torch.Tensor) -> torch.Tensor:
    """sign(h) in the forward pass; d sign / d h taken as the identity in the backward pass."""
    return _SignStraightThrough.apply(relaxed)


def cubic_penalty(relaxed: torch.Tensor) -> torch.Tensor:
    """Mean over bits of | |h| - 1 |^3, the paper's term pulling h towards sign(h)."""
    return (relaxed.abs() - 1).abs().pow(3).mean()


@METHODS.register("greedyhash")
class GreedyHash(SignCodes):
    """h = the latent layer; b = sign(h) with the gradient passed straight through; the
    classifier's softmax loss on b plus ``alpha`` * cubic penalty (alpha 0.1: the weight of
    loss2 in ssppp/GreedyHash cifar1.py). Single-label: the softmax needs one class an item."""

    classifies = True
    single_label_only = True

    def __init__(self, hash_bits: int, num_classes: int, alpha: float = 0.1) -> None:
        super().__init__(hash_bits, num_classes)
        self.alpha = alpha

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        latent, labels = batch.latent, batch.labels
        logits = classifier(sign_straight_through(latent))
        loss = F.cross_entropy(logits, labels) + self.alpha * cubic_penalty(latent)
        return MethodLoss(loss, logits)
