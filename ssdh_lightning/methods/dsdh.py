"""DSDH (Li, Sun, He, Tan, NeurIPS 2017): the pairwise likelihood of DPSH, and binary codes B
that also serve a linear classifier of the labels, found by discrete cyclic coordinate descent
(DCC); the network's codes are pulled towards B. As the authors' released code does it
(liqi-casia/DSDH-HashingCode train.m): B and the classifier W of each batch."""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.dpsh import memory_pair_likelihood
from ssdh_lightning.methods.memory import pair_memory, pair_partners
from ssdh_lightning.methods.pairs import check_pair_weights, label_rows

# train.m's DCC: at most 10 sweeps over the bits, stopping when B moves by less than this
# fraction of its norm (Frobenius).
DCC_TOLERANCE = 1e-6


def ridge_classifier(codes: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """W (K, C) minimising ||Y - B W||^2 + ridge ||W||^2: (B'B + ridge I)^-1 B'Y (RRC.m)."""
    gram = codes.T @ codes + ridge * torch.eye(codes.shape[1], device=codes.device)
    return torch.linalg.solve(gram, codes.T @ targets)


def dcc_codes(
    relaxed: torch.Tensor, targets: torch.Tensor, classifier: torch.Tensor, eta: float, sweeps: int
) -> torch.Tensor:
    """+-1 codes B (B, K) for min ||Y - B W||^2 + eta ||B - U||^2, one bit (column) at a time,
    each set to its exact minimiser given the others: b_k = sign(q_k - B_{-k} W_{-k} w_k'),
    Q = eta U + Y W' (train.m, starting from B = 0; a bit whose argument is 0 stays 0)."""
    q = eta * relaxed + targets @ classifier.T
    codes = torch.zeros_like(relaxed)
    for _ in range(sweeps):
        previous = codes.clone()
        for k in range(codes.shape[1]):
            w = classifier[k]
            others = codes @ (classifier @ w) - codes[:, k] * (w @ w)  # B_{-k} W_{-k} w_k'
            codes[:, k] = torch.sign(q[:, k] - others)
        if torch.linalg.norm(codes - previous) < DCC_TOLERANCE * torch.linalg.norm(previous):
            break
    return codes


def dsdh_quantisation(relaxed: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Mean over items of ||u - b||^2."""
    return (relaxed - codes).pow(2).sum(dim=1).mean()


@METHODS.register("dsdh")
class DSDH(SignCodes):
    """u = the latent layer (train.m's fc8, no activation); codes sign(u). Each batch: W by
    ridge regression of its labels on sign(u) (``ridge`` 0.1, train.m's lambda), B by DCC
    (``eta`` 55, main.m; at most ``dcc_sweeps`` 10); the network's loss: mean over pairs of
    log(1 + e^theta) - s theta (theta = u_i . v_j / 2) + ``quantisation_weight`` * mean over
    items of ||u - b||^2. 0.0055 = 55 / (2 x 5,000): train.m's gradient
    (S - A) U - 2 eta (u - b), which counts each pair in both orders, divided as update.m
    divides it by batch x the 5,000 training items of its CIFAR-10 split, against the mean over
    pairs (as conf/method/dpsh.yaml derives DPSH's eta).

    ``pairs``: ``memory`` pairs the batch with every training item's latest u, as train.m
    does; ``batch`` pairs within the batch. ``pair_weights`` as DPSH's. The latent layer starts
    with a bias of 0 (train.m's fc8: 0.01 * randn)."""

    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        eta: float = 55.0,
        quantisation_weight: float = 0.0055,
        ridge: float = 0.1,
        dcc_sweeps: int = 10,
        pairs: str = "batch",
        pair_weights: str = "uniform",
        train_size: int | None = None,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.eta, self.quantisation_weight = eta, quantisation_weight
        self.pair_weights = check_pair_weights(pair_weights)
        self.ridge, self.dcc_sweeps = ridge, dcc_sweeps
        self.memory = pair_memory("dsdh", pairs, train_size, hash_bits, num_classes)

    def bind_training_set(self, labels: torch.Tensor, keys: torch.Tensor) -> None:
        if self.memory is not None:
            self.memory.bind(labels, keys)

    def discrete_codes(self, relaxed: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """B of the batch: DCC with the W that the batch's labels and sign(u) give."""
        targets = label_rows(labels, self.num_classes)
        relaxed = relaxed.detach()
        classifier = ridge_classifier(relaxed.sign(), targets, self.ridge)
        return dcc_codes(relaxed, targets, classifier, self.eta, self.dcc_sweeps)

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        partners, similarity = pair_partners(
            self.memory, relaxed, batch.labels, batch.positions, self.num_classes, self.training
        )
        codes = self.discrete_codes(relaxed, batch.labels)
        quantisation = dsdh_quantisation(relaxed, codes)
        loss = memory_pair_likelihood(relaxed, partners, similarity, self.pair_weights)
        return MethodLoss(loss + self.quantisation_weight * quantisation, None)
