"""ADSH (Jiang, Li, AAAI 2018): asymmetric deep supervised hashing. The codes V of the training
items (the database, in the paper) are learned directly, by discrete optimisation; the network
learns to encode queries so that u_i . v_j matches the similarity of i and j. As the authors'
PyTorch code does it (jiangqy/ADSH-AAAI2018 ADSH_pytorch/ADSH_CIFAR_10.py, utils/adsh_loss.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ssdh_lightning.methods.base import METHODS, LatentBatch, MethodLoss, SignCodes
from ssdh_lightning.methods.memory import TrainingSetMemory

# Rows of the training set whose similarity to the sample is computed at once in an update.
UPDATE_CHUNK = 4096


def soft_similarity(similar: torch.Tensor, ratio: float | torch.Tensor) -> torch.Tensor:
    """The soft constraint of calc_sim: 1 for similar pairs, -ratio for the others, ratio the
    share of similar to dissimilar pairs, so that both kinds weigh alike. ``similar``: bool or
    0/1."""
    return torch.where(similar.bool(), 1.0, -ratio)


def similar_ratio(labels: torch.Tensor) -> torch.Tensor:
    """#similar / #dissimilar pairs (sharing a label or not) of multi-hot ``labels`` (N, C),
    ordered pairs, an item with itself included (as calc_sim counts them)."""
    rows = labels.float()
    similar = sum(
        (rows[start : start + UPDATE_CHUNK] @ rows.T > 0).sum()
        for start in range(0, len(rows), UPDATE_CHUNK)
    )
    return similar / (len(rows) ** 2 - similar).clamp(min=1)


def adsh_loss(
    relaxed: torch.Tensor,
    database: torch.Tensor,
    similarity: torch.Tensor,
    own_codes: torch.Tensor | None,
    gamma: float,
) -> torch.Tensor:
    """(sum over pairs (u_i . v_j - K s_ij)^2 + gamma sum_i ||v_i - u_i||^2) / (B N K): N the
    training items, v_i the batch items' own learned codes (None: queries, which have none).

    adsh_loss.py divides by B N; the further 1 / K keeps the gradient of a unit of u from
    growing with the code length K (the residual u . v - K s is of the order of K), so that the
    model config's one learning rate serves every length, as it does the other methods."""
    hash_bits = relaxed.shape[1]
    # u V' - K S in one pass over the (B, N) pairs; in float32 under mixed precision, as S is
    square = torch.sub(relaxed @ database.T, similarity, alpha=hash_bits).square().sum()
    quantisation = 0.0 if own_codes is None else (own_codes - relaxed).pow(2).sum()
    return (square + gamma * quantisation) / (len(relaxed) * len(database) * hash_bits)


def updated_codes(
    codes: torch.Tensor,
    labels: torch.Tensor,
    sampled: torch.Tensor,
    sample: torch.Tensor,
    ratio: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """V after one sweep of discrete coordinate descent over its bits (ADSH_CIFAR_10.py):
    Q = -2 K S' U - 2 gamma U-bar (S: the soft similarity of the sampled items to every row,
    U-bar: U at the sampled rows, 0 elsewhere), then for each bit k,
    V_k = -sign(2 V_{-k} U_{-k}' U_k + Q_k). ``labels`` (N, C) multi-hot of every row;
    ``sampled`` (M,) the sampled rows, ``sample`` (M, K) their u."""
    hash_bits = codes.shape[1]
    rows = labels.float()
    sample_rows = rows[sampled]
    # S' U = (1 + r) A' U - r 1 (1' U), A the 0/1 similarity: no soft copy of A is made
    spread = -ratio * sample.sum(dim=0)
    q = torch.empty_like(codes)
    for start in range(0, len(codes), UPDATE_CHUNK):  # A' U without A whole in memory
        chunk = slice(start, start + UPDATE_CHUNK)
        similar = (rows[chunk] @ sample_rows.T > 0).to(sample.dtype)
        q[chunk] = -2 * hash_bits * torch.addmm(spread, similar, sample, alpha=1 + float(ratio))
    q[sampled] -= 2 * gamma * sample
    gram = sample.T @ sample  # U'U: column k is U' U_k
    codes = codes.clone()
    for k in range(hash_bits):
        codes[:, k] = 0  # V_{-k}: V @ U' U_k is then V_{-k} U_{-k}' U_k
        codes[:, k] = torch.addmv(q[:, k], codes, gram[:, k], beta=-1, alpha=-2).sign()
    return codes


@METHODS.register("adsh")
class ADSH(SignCodes):
    """u = tanh(latent) (CNNNet ends in nn.Tanh); codes of queries and of any image the network
    encodes: sign(u) > 0; codes of the training items in the database: their learned V > 0.

    Every training step: the loss ``adsh_loss`` of the batch against V with the soft similarity
    (``gamma`` 200), and the batch's u kept in the memory. After each epoch, V is updated by one
    sweep of discrete coordinate descent (``updated_codes``) on ``num_samples`` (2,000) items
    drawn at random from the memory (seeded by ``sample_seed`` and the update count, the same
    draw on every process). The authors draw the sample first and train 3 epochs on it alone,
    50 times; here every epoch trains on the whole training set and then updates V, and the
    soft constraint's ratio is that of the whole training set (the sample's, in expectation).
    V starts at 0, as theirs. The latent layer starts with a bias of 0."""

    learns_database_codes = True
    latent_bias = 0.0

    def __init__(
        self,
        hash_bits: int,
        num_classes: int,
        gamma: float = 200.0,
        num_samples: int = 2000,
        sample_seed: int = 0,
        train_size: int | None = None,
    ) -> None:
        super().__init__(hash_bits, num_classes)
        self.gamma, self.num_samples, self.sample_seed = gamma, num_samples, sample_seed
        self.memory = TrainingSetMemory("adsh", train_size, hash_bits, num_classes)
        self.register_buffer("database", torch.zeros(len(self.memory), hash_bits))  # V
        self.register_buffer("ratio", torch.zeros(()))  # #similar / #dissimilar pairs
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(latent)

    def bind_training_set(self, labels: torch.Tensor, keys: torch.Tensor) -> None:
        self.memory.bind(labels, keys)
        if self.ratio == 0:  # once: the labels cannot change after
            self.ratio.copy_(similar_ratio(self.memory.labels))

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        relaxed = self.relaxed(batch.latent)
        own_codes = None
        if self.training:  # positions index the training set: the batch's own V rows
            self.memory.write(batch.positions, relaxed)
            own_codes = self.database[batch.positions]
        similarity = soft_similarity(self.memory.shares_label(batch.labels), self.ratio)
        loss = adsh_loss(relaxed, self.database, similarity, own_codes, self.gamma)
        return MethodLoss(loss, None)

    def end_training_epoch(self) -> None:
        generator = torch.Generator().manual_seed(self.sample_seed + int(self.updates))
        count = min(self.num_samples, len(self.memory))
        sampled = torch.randperm(len(self.memory), generator=generator)[:count]
        sampled = sampled.to(self.database.device)
        updated = updated_codes(
            self.database,
            self.memory.labels,
            sampled,
            self.memory.relaxed[sampled],
            self.ratio,
            self.gamma,
        )
        self.database.copy_(updated)
        self.updates += 1

    def database_codes(self, codes: torch.Tensor, train_positions: torch.Tensor) -> torch.Tensor:
        learned = self.database[train_positions.clamp(min=0)] > 0
        return torch.where((train_positions >= 0)[:, None], learned, codes)

    def training_positions(self, keys: torch.Tensor) -> torch.Tensor:
        return self.memory.positions_of(keys)
