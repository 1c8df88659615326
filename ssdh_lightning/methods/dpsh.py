"""DPSH (Li, Wang, Kang, IJCAI 2016): pairwise likelihood of inner products, plus quantisation."""

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.memory import pair_memory, pair_partners
from ssdh_lightning.methods.pairs import check_pair_weights, pair_likelihood, pair_mean
from ssdh_lightning.methods.quantisation import sign_quantisation


def memory_pair_likelihood(
    relaxed: torch.Tensor,
    partners: torch.Tensor,
    similarity: torch.Tensor,
    pair_weights: str = "uniform",
) -> torch.Tensor:
    """Mean (``pair_mean``) over the (B, P) pairs of the batch's u and its partners' v of
    log(1 + e^theta) - s * theta, theta = u_i . v_j / 2 (DPSH's and DSDH's likelihood)."""
    pair_losses = pair_likelihood(relaxed @ partners.T / 2, similarity)
    return pair_mean(pair_losses, similarity, pair_weights)


@METHODS.register("dpsh")
class DPSH(SignCodes):
    """Relaxed codes u = the latent layer itself (DPSH-pytorch's CNN-F ends in a plain linear
    layer); codes sign(u). That layer starts with a bias of 0 (torch's default linear layer):
    from the paper's bias of 1 every relaxed code starts at the same all-ones code, and
    u_i.u_j / 2 starts at hash_bits / 2 for every pair.

    ``pairs``: ``batch`` pairs within the batch; ``memory`` pairs the batch with every
    training item's latest u, as DPSH-pytorch's DPSH_CIFAR_10.py does (its U, written before
    each loss).

    ``pair_weights``: ``uniform`` as the authors; ``balanced`` as HashNet (``pair_mean``)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        eta: float = 0.01,
        pairs: str = "batch",
        pair_weights: str = "uniform",
        train_size: int | None = None,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.eta = eta
        self.pair_weights = check_pair_weights(pair_weights)
        self.memory = pair_memory("dpsh", pairs, train_size, hash_bits, num_classes)

    def bind_training_set(self, labels: torch.Tensor, keys: torch.Tensor) -> None:
        if self.memory is not None:
            self.memory.bind(labels, keys)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        partners, similarity = pair_partners(
            self.memory, relaxed, batch.labels, batch.positions, self.num_classes, self.training
        )
        loss = memory_pair_likelihood(relaxed, partners, similarity, self.pair_weights)
        return MethodLoss(loss + self.eta * sign_quantisation(relaxed), None)
