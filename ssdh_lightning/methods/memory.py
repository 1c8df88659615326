"""What a method keeps of every training item, one row per item, indexed by the position that
batches carry: the training set's labels, its items' keys, and each item's relaxed code as the
network last computed it (zeros before). Buffers, so a checkpoint carries them and a resumed run
goes on from them.

Rows are written during training steps with the batches of every process (gathered across DDP
processes), so every process holds the same memory and an update computed from it at an epoch's
end (ADSH's database codes) comes out the same on each.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torchmetrics.utilities.distributed import gather_all_tensors

from ssdh_lightning.methods.pairs import label_rows, label_similarity


def gathered(values: torch.Tensor) -> torch.Tensor:
    """``values`` of every process, concatenated (process order); this process's alone outside
    DDP. Every process must call it at the same step: it is a collective operation."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    # torchmetrics pads and trims, so processes may hold batches of different sizes
    return torch.cat(gather_all_tensors(values.contiguous()))


def require_train_size(train_size: int | None, method: str) -> int:
    if not isinstance(train_size, int) or isinstance(train_size, bool) or train_size < 1:
        raise ValueError(
            f"method={method} keeps a row per training item, so the model needs train_size, the "
            f"number of training items (got {train_size!r}); ssdh-train sets it from the data; "
            "in Python pass SSDHModule(..., train_size=len(datamodule.splits.train))"
        )
    return train_size


class TrainingSetMemory(nn.Module):
    """``train_size`` rows: ``labels`` (multi-hot, uint8), ``keys`` (int64, 0: no file) and
    ``relaxed`` (float, the latest relaxed code of each item)."""

    def __init__(self, method: str, train_size: int | None, hash_bits: int, num_classes: int):
        super().__init__()
        self.method = method
        size = require_train_size(train_size, method)
        self.num_classes = num_classes
        self.register_buffer("labels", torch.zeros(size, num_classes, dtype=torch.uint8))
        self.register_buffer("keys", torch.zeros(size, dtype=torch.int64))
        self.register_buffer("relaxed", torch.zeros(size, hash_bits))

    def __len__(self) -> int:
        return len(self.relaxed)

    def bind(self, labels: torch.Tensor, keys: torch.Tensor) -> None:
        """Keep the training set's labels and keys; refuse a training set other than the one
        whose rows the memory holds (a resumed run, or an evaluation, on other data)."""
        if len(labels) != len(self):
            raise ValueError(
                f"method={self.method} keeps {len(self)} rows, one per item of the training set "
                f"it was built for, but this training set has {len(labels)} items; resume or "
                "evaluate it on the data it was trained on"
            )
        rows = label_rows(labels.to(self.labels.device), self.num_classes).to(torch.uint8)
        if self.labels.any() and not torch.equal(rows, self.labels):
            raise ValueError(
                f"method={self.method} was trained on a training set whose items have other "
                f"labels than this one's ({len(self)} items alike): its per-item state would "
                "belong to other images; resume or evaluate it on the data it was trained on "
                "(the same data set, protocol and seed)"
            )
        self.labels.copy_(rows)
        self.keys.copy_(keys.to(self.keys.device))

    def write(self, positions: torch.Tensor, relaxed: torch.Tensor) -> None:
        """Store the batch's relaxed codes (detached) at its items' rows, with every process's."""
        self.relaxed[gathered(positions)] = gathered(relaxed.detach()).to(self.relaxed.dtype)

    def shares_label(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, train_size) bool: whether each item of the batch shares a label with each
        training item."""
        return label_rows(labels, self.num_classes) @ self.labels.T.float() > 0

    def similarity(self, labels: torch.Tensor) -> torch.Tensor:
        """``shares_label`` as 0/1 floats."""
        return self.shares_label(labels).float()

    def positions_of(self, keys: torch.Tensor) -> torch.Tensor:
        """Each key's row, -1 where no row has it (and for key 0, an item without a file)."""
        order = torch.argsort(self.keys)
        ordered = self.keys[order]
        found = torch.searchsorted(ordered, keys).clamp(max=len(ordered) - 1)
        hit = (ordered[found] == keys) & (keys != 0)
        return torch.where(hit, order[found], torch.full_like(keys, -1))


# How the pairwise methods pair a batch: with itself, or with the memory of every training item
# (DPSH-pytorch, the DSDH authors' train.m).
PAIRS = ("batch", "memory")


def pair_memory(
    method: str, pairs: str, train_size: int | None, hash_bits: int, num_classes: int
) -> TrainingSetMemory | None:
    """The memory a pairwise method keeps for ``pairs``: none for ``batch``."""
    if pairs not in PAIRS:
        raise ValueError(
            f"method.pairs={pairs!r}: must be 'batch' (pairs within the batch) or 'memory' (the "
            "batch against every training item's latest code); e.g. method.pairs=memory"
        )
    if pairs == "batch":
        return None
    return TrainingSetMemory(method, train_size, hash_bits, num_classes)


def pair_partners(
    memory: TrainingSetMemory | None,
    relaxed: torch.Tensor,
    labels: torch.Tensor,
    positions: torch.Tensor,
    num_classes: int,
    training: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(partners, similarity): what the batch's relaxed codes are paired with, (P, bits), and
    the (B, P) 0/1 similarity. Without memory, the batch itself; with it, every training item's
    latest code, the batch's own rows written first when training (as DPSH-pytorch and the DSDH
    authors do), so the partners carry no gradient."""
    if memory is None:
        return relaxed, label_similarity(labels, num_classes)
    if training:
        memory.write(positions, relaxed)
    return memory.relaxed, memory.similarity(labels)
