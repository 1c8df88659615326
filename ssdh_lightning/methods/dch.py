"""DCH (Cao, Long, Liu, Wang, CVPR 2018): Cauchy cross-entropy on the normalised Hamming
distance of the relaxed codes, similar and dissimilar pairs balanced, plus Cauchy quantisation."""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.pairs import label_similarity

# Added to 1 - cos, as the authors' dch.py does: a dissimilar pair at distance 0 stays finite.
_DISTANCE_FLOOR = 1e-6


def normalised_hamming(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """(len(left), len(right)) K/2 (1 - cos(h_i, h_j)): the Hamming distance where h is +-1."""
    bits = left.shape[1]
    norms = left.norm(dim=1)[:, None] * right.norm(dim=1)[None, :]
    cosine = (left @ right.T / norms.clamp(min=1e-12)).clamp(max=1)
    return bits / 2 * (1 - cosine + _DISTANCE_FLOOR)


def cauchy_cross_entropy(
    distance: torch.Tensor, similarity: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Cross-entropy of the pair labels under p(similar) = gamma / (gamma + d):
    s log(1 + d / gamma) + (1 - s) log(1 + gamma / d)."""
    similar = torch.log1p(distance / gamma)
    dissimilar = torch.log1p(gamma / distance)
    return similarity * similar + (1 - similarity) * dissimilar


def balanced_pair_mean(pair_losses: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Mean over the pairs i != j, each pair weighted |P| / |P1| if similar and |P| / |P0| if
    not, so that each kind weighs half whatever its share of the batch (a kind without pairs
    adds nothing)."""
    pairs = ~torch.eye(len(similarity), dtype=torch.bool, device=similarity.device)
    similar = similarity[pairs]
    similar_count = similar.sum().clamp(min=1)
    dissimilar_count = (1 - similar).sum().clamp(min=1)
    weights = similar / similar_count + (1 - similar) / dissimilar_count
    return (weights * pair_losses[pairs]).sum()


def cauchy_quantisation(relaxed: torch.Tensor, gamma: float) -> torch.Tensor:
    """Mean over items of log(1 + d(|h|, 1) / gamma), d the normalised Hamming distance."""
    ones = torch.ones(1, relaxed.shape[1], dtype=relaxed.dtype, device=relaxed.device)
    return torch.log1p(normalised_hamming(relaxed.abs(), ones) / gamma).mean()


def dch_loss(
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    gamma: float,
    quantisation_weight: float,
) -> torch.Tensor:
    similarity = label_similarity(labels, num_classes)
    distance = normalised_hamming(relaxed, relaxed)
    pairs = balanced_pair_mean(cauchy_cross_entropy(distance, similarity, gamma), similarity)
    return pairs + quantisation_weight * cauchy_quantisation(relaxed, gamma)


@METHODS.register("dch")
class DCH(SignCodes):
    """h = tanh(z) (the authors' ``with_tanh``, on by default; fc8's bias 0); pairs drawn within
    the batch, an item not paired with itself; codes sign(h). ``gamma`` 20 and
    ``quantisation_weight`` 0: thuml/DeepHash examples/dch/train_val_script.py (--gamma 20,
    --q-lambda 0)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        gamma: float = 20.0,
        quantisation_weight: float = 0.0,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.gamma = gamma
        self.quantisation_weight = quantisation_weight

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(latent)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        loss = dch_loss(
            self.relaxed(batch.latent),
            batch.labels,
            self.num_classes,
            self.gamma,
            self.quantisation_weight,
        )
        return MethodLoss(loss, None)
