"""The LightningModule: backbone, latent layer H, the method that trains them (its loss and code
rule, ``methods/``), an optional classifier; the paper's SGD."""

from __future__ import annotations

from typing import NamedTuple

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision
from torchmetrics.utilities import dim_zero_cat

from ssdh_lightning import metric_names
from ssdh_lightning.config_checks import check_model, positive_integer
from ssdh_lightning.data.base import QUERY, Batch
from ssdh_lightning.methods import LatentBatch, MethodLoss, build_method, is_multi_label
from ssdh_lightning.models import HashingHead, Normalize, build_backbone
from ssdh_lightning.models.head import LATENT_WEIGHT_STD
from ssdh_lightning.preprocessing import Preprocessing

DEFAULT_OPTIMIZER = {
    "lr": 0.001,
    "momentum": 0.9,
    "weight_decay": 0.0005,
    "classifier_lr_mult": 10.0,
    "bias_lr_mult": 2.0,
}


class Encoded(NamedTuple):
    """The three outputs of PROTOCOL.md for a batch of images."""

    features: torch.Tensor  # (B, feature_dim), last fully connected layer after its ReLU
    probs: torch.Tensor  # (B, hash_bits), sigmoid of the latent layer
    codes: torch.Tensor  # (B, hash_bits) bool, by the method's rule (lin2015: probs > 0.5)


class EncodedSet(Metric):
    """Codes, probs, features and labels of a whole evaluation set, gathered from every process
    and put back in data set order, each item once.

    Order matters: rankings break ties by database position. Samplers on several processes
    interleave the items and pad with repeats; the positions undo both. ``probs`` are kept only
    with ``keep_probs`` (the queries', for the histogram of latent activations): the codes
    already say all that retrieval needs of them.
    """

    full_state_update = False

    def __init__(self, keep_probs: bool = False) -> None:
        super().__init__()
        self.keep_probs = keep_probs
        self.fields = ("positions", "codes", "features", "labels")
        if keep_probs:
            self.fields += ("probs",)
        for name in self.fields:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, encoded: Encoded, labels: torch.Tensor, positions: torch.Tensor) -> None:
        self.positions.append(positions)
        self.codes.append(encoded.codes.to(torch.uint8))
        self.features.append(encoded.features.float())
        self.labels.append(labels)
        if self.keep_probs:
            self.probs.append(encoded.probs.float())

    def compute(self) -> dict[str, torch.Tensor]:
        gathered = {name: dim_zero_cat(getattr(self, name)) for name in self.fields}
        positions, first = _first_occurrences(gathered["positions"])
        return {"positions": positions} | {
            name: gathered[name][first] for name in self.fields if name != "positions"
        }


def _first_occurrences(positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct positions, ascending, and where each first occurs in ``positions``."""
    order = torch.argsort(positions, stable=True)
    ordered = positions[order]
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first], order[first]


class SSDHModule(L.LightningModule):
    """Deep hashing with a latent layer of ``hash_bits`` units (Lin et al., CVPRW 2015), trained
    by ``method`` (a conf/method/ file as a dict, lin2015 when None).

    Every argument is a plain value saved in the checkpoint, so the checkpoint alone rebuilds
    the model, its preprocessing and the data it was trained on (``checkpoints.load_module``).
    ``backbone`` names the network and its options; ImageNet weights come from
    ``backbone.weights`` (torchvision's weights API) or the local file ``weights_path``.
    ``channels_last`` lays images and convolution weights out channels last (NHWC, which tensor
    cores and oneDNN run fastest); ``compile`` compiles the backbone with ``torch.compile`` in
    place, so that its state dict, and a checkpoint, is the same compiled or not.
    """

    def __init__(
        self,
        hash_bits: int = 48,
        num_classes: int = 10,
        preprocessing: dict | None = None,
        backbone: dict | None = None,
        weights_path: str | None = None,
        dropout: float = 0.0,
        latent_init_std: float = LATENT_WEIGHT_STD,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        class_names: list[str] | None = None,
        data_config: dict | None = None,
        method: dict | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        optimizer = {**DEFAULT_OPTIMIZER, **(optimizer or {})}
        # the checks of ssdh-train's config, again for a module built in Python or a checkpoint
        check_model(
            {
                "hash_bits": hash_bits,
                "dropout": dropout,
                "latent_init_std": latent_init_std,
                "optimizer": optimizer,
                "scheduler": scheduler,
                "channels_last": channels_last,
                "compile": compile,
            }
        )
        positive_integer("num_classes", num_classes, 10)
        if preprocessing is None:
            raise ValueError("SSDHModule needs the preprocessing of its data module")
        # Saved in checkpoints; TensorBoard gets the run's own summary at its end (tasks/train.py).
        self.save_hyperparameters(logger=False)
        self.optimizer_options = optimizer
        backbone = dict(backbone or {"name": "small_cnn"})
        self.preprocessing = Preprocessing.from_dict(preprocessing)
        self.normalize = Normalize(self.preprocessing.mean, self.preprocessing.std)
        self.backbone = build_backbone(
            backbone.pop("name"), self.preprocessing, weights_path, **backbone
        )
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if compile:
            self.backbone.compile()
        # Built before the head: a method may refuse the bits or classes (CSQ's centres).
        self.method = build_method(method, hash_bits, num_classes)
        classes = num_classes if self.method.classifies else None
        self.head = HashingHead(
            self.backbone.feature_dim,
            hash_bits,
            classes,
            dropout,
            latent_init_std,
            latent_bias=self.method.latent_bias,
        )
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_classifier_map = MultilabelAveragePrecision(num_classes, average="macro")
        self.query_set = EncodedSet(keep_probs=True)
        self.database_set = EncodedSet()

    @property
    def hash_bits(self) -> int:
        return self.hparams.hash_bits

    def _outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``features`` and the latent layer's pre-activations of uint8 images."""
        images = self.normalize(images).contiguous(memory_format=self.memory_format)
        features = self.backbone(images)
        return features, self.head(features)

    def _encoded(self, features: torch.Tensor, latent: torch.Tensor) -> Encoded:
        return Encoded(features, torch.sigmoid(latent), self.method.codes(latent))

    def forward(self, images: torch.Tensor) -> Encoded:
        """``features``, ``probs`` and ``codes`` of uint8 images (B, C, H, W)."""
        return self._encoded(*self._outputs(images))

    def encode(self, images: torch.Tensor) -> Encoded:
        """``features``, ``probs`` and ``codes`` of uint8 images (B, C, H, W)."""
        return self(images)

    def method_loss(self, batch: Batch) -> MethodLoss:
        """The method's loss of a batch of uint8 images, their labels and positions, and the
        class logits of the methods that classify: what a training step minimises."""
        features, latent = self._outputs(batch.images)
        return self._loss(features, latent, batch)

    def _loss(self, features: torch.Tensor, latent: torch.Tensor, batch: Batch) -> MethodLoss:
        inputs = LatentBatch(latent, batch.labels, features, batch.positions)
        return self.method.loss(inputs, self.head.classifier)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        images, labels = batch.images, batch.labels
        if len(images) == 0:  # every file of the batch was unreadable: skip the step
            return None
        # On every batch, so that wrong labels stop the run at its first step, before any update
        self.method.check_labels(labels)
        self.method.start_training_step()
        loss, logits = self.method_loss(batch)
        self.log(metric_names.TRAIN_LOSS, loss, on_step=True, on_epoch=True, prog_bar=True)
        if logits is not None and not is_multi_label(labels):
            self.train_accuracy(logits, labels)
            self.log(metric_names.TRAIN_ACCURACY, self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels = batch.images, batch.labels
        if len(images) == 0:  # every file of the batch was unreadable
            return
        features, latent = self._outputs(images)
        encoded = self._encoded(features, latent)
        if dataloader_idx != QUERY:
            self.database_set.update(encoded, labels, batch.positions)
            return
        self.query_set.update(encoded, labels, batch.positions)
        loss, logits = self._loss(features, latent, batch)
        self.log(metric_names.VAL_LOSS, loss, on_epoch=True, add_dataloader_idx=False)
        if logits is not None:
            self._log_classifier(logits, labels)

    def _log_classifier(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Accuracy of single labels; the classifier's mAP over classes of multi-hot ones."""
        if is_multi_label(labels):
            self.val_classifier_map(logits, labels.int())
            name, metric = metric_names.VAL_CLASSIFIER_MAP, self.val_classifier_map
        else:
            self.val_accuracy(logits, labels)
            name, metric = metric_names.VAL_ACCURACY, self.val_accuracy
        self.log(name, metric, on_epoch=True, add_dataloader_idx=False)

    def encoded_sets(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Query and database codes, features and labels gathered by the last validation."""
        return self.query_set.compute(), self.database_set.compute()

    def reset_encoded_sets(self) -> None:
        self.query_set.reset()
        self.database_set.reset()

    def parameter_groups(self) -> list[dict]:
        """PROTOCOL.md's learning rates: the classifier 10x, biases 2x (the classifier's 20x);
        weight decay on weights only. 1-D parameters (biases, normalisation scales) count as biases.
        """
        options = self.optimizer_options
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, parameter in self.named_parameters():
            key = (name.startswith("head.classifier."), parameter.ndim <= 1)
            groups.setdefault(key, []).append(parameter)
        result = []
        for (classifier, bias), parameters in sorted(groups.items()):
            multiplier = options["classifier_lr_mult"] if classifier else 1.0
            multiplier *= options["bias_lr_mult"] if bias else 1.0
            result.append(
                {
                    "params": parameters,
                    "lr": options["lr"] * multiplier,
                    "weight_decay": 0.0 if bias else options["weight_decay"],
                    "name": ("classifier" if classifier else "network") + ("_bias" if bias else ""),
                }
            )
        return result

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(
            self.parameter_groups(),
            lr=self.optimizer_options["lr"],
            momentum=self.optimizer_options["momentum"],
        )
        schedule = self.hparams.scheduler
        if not schedule or not schedule.get("step_size"):
            return optimizer
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=schedule["step_size"], gamma=schedule.get("gamma", 0.1)
        )
        interval = schedule.get("interval", "step")
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }
