"""BiHalf (Li, van Gemert, AAAI 2021): unsupervised; the bi-half layer sets each bit on for half
of the batch and off for the other half, and the codes keep the features' cosine similarity."""

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import cosine_preservation


class _BiHalf(torch.autograd.Function):
    @staticmethod
    def forward(ctx, relaxed: torch.Tensor, gamma: float) -> torch.Tensor:
        codes = bi_half_codes(relaxed)
        ctx.save_for_backward(relaxed, codes)
        ctx.gamma = gamma
        return codes

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        relaxed, codes = ctx.saved_tensors
        # the authors' hash.backward: the gradient passed through, plus gamma * (u - b) / (B K)
        return grad + ctx.gamma * (relaxed - codes) / codes.numel(), None


def bi_half_codes(relaxed: torch.Tensor) -> torch.Tensor:
    """+-1 codes (B, K): in each column, the floor(B/2) largest values +1, the others -1 (ties
    in the order of a descending sort)."""
    order = relaxed.argsort(dim=0, descending=True)
    half = len(relaxed) // 2
    ranked = torch.cat([torch.ones_like(relaxed[:half]), -torch.ones_like(relaxed[half:])])
    return torch.zeros_like(relaxed).scatter_(0, order, ranked)


def bi_half(relaxed: torch.Tensor, gamma: float) -> torch.Tensor:
    """The bi-half layer: ``bi_half_codes`` forward; backward, the gradient straight through
    plus ``gamma`` * (u - b) / numel, pulling u towards its code."""
    return _BiHalf.apply(relaxed, gamma)


@METHODS.register("bihalf")
class BiHalf(SignCodes):
    """u = the latent layer; b = bi_half(u) over the batch; loss: the mean squared difference of
    cos(b_i, b_j) and cos(x_i, x_j) over the pairs of the batch's two halves (x: the backbone's
    features); ``gamma`` 6 (liyunqianggyn/Deep-Unsupervised-Image-Hashing ImageHashing/
    Cifar10_I.py). Codes of any image, at evaluation: sign(u) > 0 (its cal_map_single.py). Uses
    no labels. The latent layer starts with a bias of 0 (the authors' plain nn.Linear)."""

    uses_labels = False
    latent_bias = 0.0
    trains_backbone = False  # the authors' code gives the optimiser the hash layer alone

    def __init__(self, hash_bits: int, num_classes: int, gamma: float = 6.0) -> None:
        super().__init__(hash_bits, num_classes)
        self.gamma = gamma

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        codes = bi_half(batch.latent, self.gamma)
        return MethodLoss(cosine_preservation(codes, batch.features), None)
