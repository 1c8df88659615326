"""What every training method is: a module that owns its loss, its code rule and its state.

The LightningModule gives a method a ``LatentBatch`` (the latent layer's pre-activations
``latent`` (B, hash_bits), the labels, the backbone's ``features`` that feed the latent layer, and
each item's position in its set) and, for the methods that classify, the head's classifier; the
method says what the loss is and which bits are on. Labels are class indices (B,) or multi-hot
rows (B, num_classes). A method's state (HashNet's beta, CSQ's centres, the rows it keeps of every
training item: ``memory.TrainingSetMemory``) lives in buffers, so the checkpoint's state dict
carries it as plain tensors and ``load_state_dict`` restores it.

The module calls, besides ``loss``: ``bind_training_set`` before training and before each
evaluation (the training set's labels and item keys), ``start_training_step`` before each
training step, ``end_training_epoch`` after the last training step of each epoch (before that
epoch's validation), and ``database_codes`` on the database's codes.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ssdh_lightning.methods.memory import TrainingSetMemory
from ssdh_lightning.models.head import LATENT_BIAS
from ssdh_lightning.registry import Registry


class LatentBatch(NamedTuple):
    """What a method's loss sees of a batch. ``positions`` index the training set while the
    method is in training mode (``self.training``), the evaluated set otherwise."""

    latent: torch.Tensor  # (B, hash_bits): the latent layer's pre-activations
    labels: torch.Tensor  # (B,) class ids or (B, num_classes) multi-hot rows
    features: torch.Tensor  # (B, feature_dim): the backbone's features, input of the latent layer
    positions: torch.Tensor  # (B,) int64


class MethodLoss(NamedTuple):
    loss: torch.Tensor
    logits: torch.Tensor | None  # class scores, for the methods that classify


def is_multi_label(labels: torch.Tensor) -> bool:
    """Multi-hot rows (B, C) rather than class indices (B,)."""
    return labels.dim() == 2


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of class indices; sigmoid cross-entropy (mean over items and
    classes) of multi-hot rows, as SSDH (TPAMI 2017, Sec. 3.3) does for multi-label data."""
    if is_multi_label(labels):
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels)


class HashingMethod(nn.Module):
    """Subclasses are registered in ``METHODS`` under the name that ``method=`` and run.json call
    them, set ``classifies`` (whether the module builds a classifier for them) and implement
    ``loss`` and ``codes``."""

    classifies: ClassVar[bool] = False
    single_label_only: ClassVar[bool] = False
    # False: an unsupervised method, whose loss reads no labels; it trains on data without any.
    uses_labels: ClassVar[bool] = True
    # True: the database's items of the training set get codes the method learned (ADSH's), not
    # the network's; ``database_codes`` and ``training_positions`` say which.
    learns_database_codes: ClassVar[bool] = False
    # The latent layer's initial bias: the paper's 1 (every sigmoid unit starts on).
    latent_bias: ClassVar[float] = LATENT_BIAS
    # False: the authors train the hash layer alone on a frozen backbone (BiHalf, GreedyHash-U):
    # what ``model.freeze_backbone`` null does for this method
    trains_backbone: ClassVar[bool] = True

    def __init__(self, hash_bits: int, num_classes: int) -> None:
        super().__init__()
        self.hash_bits = hash_bits
        self.num_classes = num_classes

    @property
    def name(self) -> str:
        """What ``method=``, run.json and the report call this method."""
        return METHODS.name_of(type(self))

    @property
    def keeps_training_set(self) -> bool:
        """Whether the method keeps a row per training item (and so needs the training set)."""
        return any(isinstance(module, TrainingSetMemory) for module in self.modules())

    def loss(self, batch: LatentBatch, classifier: nn.Module | None) -> MethodLoss:
        raise NotImplementedError

    def codes(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, hash_bits) bool: the bits of the binary codes (1 where on)."""
        raise NotImplementedError

    def start_training_step(self) -> None:
        """Called at each training step, before its loss: where a schedule (HashNet's beta)
        advances."""

    def end_training_epoch(self) -> None:
        """Called after the last training step of each epoch, before that epoch's validation,
        on every process alike: where state of the whole training set is updated from what the
        epoch saw (ADSH's database codes)."""

    def bind_training_set(self, labels: torch.Tensor, keys: torch.Tensor) -> None:
        """Called before training and before each evaluation with the training set's labels
        (class ids (N,) or multi-hot rows (N, num_classes)) and its items' keys (int64 (N,):
        ``images.files.path_key`` of each item's file, 0 for an item without one). The methods
        that keep a row per training item keep them, and refuse another training set."""

    def database_codes(self, codes: torch.Tensor, train_positions: torch.Tensor) -> torch.Tensor:
        """The codes (B, hash_bits) bool that database items get, from the network's ``codes``
        and each item's position in the training set (-1: not a training item): the network's,
        unless the method ``learns_database_codes``."""
        return codes

    def training_positions(self, keys: torch.Tensor) -> torch.Tensor:
        """Each key's position in the training set, -1 where none of its items has it: how an
        index finds the training items among the files it encodes."""
        return torch.full_like(keys, -1)

    def check_labels(self, labels: torch.Tensor) -> None:
        """Refuse labels this method cannot train on, with what to change."""
        if not self.uses_labels:
            return
        if is_multi_label(labels):
            if self.single_label_only:
                raise ValueError(
                    f"method={self.name} trains on single-label data only (one class per item), "
                    f"but the data has multi-hot labels of {labels.shape[1]} classes; choose a "
                    f"method that takes multi-label data: method={', '.join(multi_label_methods())}"
                )
            if labels.shape[1] != self.num_classes:
                raise ValueError(
                    f"multi-hot labels have {labels.shape[1]} columns but the model was built "
                    f"for num_classes={self.num_classes}; the data module must give one column "
                    "per class"
                )


# Every training method, by the name that ``method=`` takes; filled where each is defined.
METHODS: Registry[type[HashingMethod]] = Registry("method", "method=NAME")


def multi_label_methods() -> list[str]:
    return [name for name, cls in METHODS.items() if not cls.single_label_only and cls.uses_labels]


def unsupervised_methods() -> list[str]:
    return [name for name, cls in METHODS.items() if not cls.uses_labels]


class SigmoidCodes(HashingMethod):
    """Codes of the latent sigmoid layer: ``probs > 0.5``, strictly (PROTOCOL.md)."""

    def codes(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(latent) > 0.5


class SignCodes(HashingMethod):
    """Codes of the methods that hash by ``sign``: a bit is on where sign(relaxed) > 0."""

    def relaxed(self, latent: torch.Tensor) -> torch.Tensor:
        """The continuous codes the loss sees; ``tanh`` or the identity, both keep the sign."""
        return latent

    def codes(self, latent: torch.Tensor) -> torch.Tensor:
        return self.relaxed(latent).sign() > 0
