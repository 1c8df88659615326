"""The LightningModule: backbone, latent layer H, the method that trains them (its loss, code
rule and state, ``methods/``), an optional classifier; the paper's SGD."""

from __future__ import annotations

from typing import NamedTuple

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision
from torchmetrics.utilities import dim_zero_cat

from ssdh_lightning import metric_names
from ssdh_lightning.config_checks import (
    DEFAULT_OPTIMIZER,
    OPTIMIZER_NAMES,
    check_model,
    integer,
)
from ssdh_lightning.data.base import QUERY, Batch, RetrievalDataModule
from ssdh_lightning.images.files import path_key
from ssdh_lightning.methods import (
    LatentBatch,
    MethodLoss,
    build_method,
    is_multi_label,
    unsupervised_methods,
)
from ssdh_lightning.models import HashingHead, Normalize, build_backbone
from ssdh_lightning.models.head import LATENT_WEIGHT_STD
from ssdh_lightning.preprocessing import Preprocessing

# model.optimizer.name: the paper's SGD (the shared protocol), or the optimisers of the authors'
# recipes (conf/recipe/)
OPTIMIZERS = dict(
    zip(OPTIMIZER_NAMES, (torch.optim.SGD, torch.optim.Adam, torch.optim.RMSprop), strict=True)
)


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
    ``num_classes`` 0: data without labels, which only a method that uses none trains on.
    ``train_size``: the number of training items, for the methods that keep a row per item.
    ``freeze_backbone``: train the latent layer (and classifier) only; the backbone gets no
    gradient and stays in evaluation mode (batch norm statistics, dropout). None: as the method's
    authors do (``trains_backbone``: frozen for BiHalf and GreedyHash-U, trained for the rest).
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
        train_size: int | None = None,
        freeze_backbone: bool | None = None,
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
        integer("num_classes", num_classes, 10, minimum=0)
        if freeze_backbone is not None and not isinstance(freeze_backbone, bool):
            raise ValueError(
                f"model.freeze_backbone={freeze_backbone!r}: must be true, false or null (as the "
                "method's authors); e.g. model.freeze_backbone=true"
            )
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
        self.method = build_method(method, hash_bits, num_classes, train_size)
        self.freezes_backbone = (
            not self.method.trains_backbone if freeze_backbone is None else freeze_backbone
        )
        if self.freezes_backbone:
            self.backbone.requires_grad_(False)
        if num_classes == 0 and self.method.uses_labels:
            raise ValueError(
                f"method={self.method.name} learns from labels, but the data has none; train "
                f"a method that uses no labels on it (method={' or '.join(unsupervised_methods())}"
                "), or give the data labels (category folders, label vectors in the list files)"
            )
        classes = num_classes if self.method.classifies else None
        self.head = HashingHead(
            self.backbone.feature_dim,
            hash_bits,
            classes,
            dropout,
            latent_init_std,
            latent_bias=self.method.latent_bias,
        )
        if self.method.classifies:
            self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
            self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
            self.val_classifier_map = MultilabelAveragePrecision(num_classes, average="macro")
        self.query_set = EncodedSet(keep_probs=True)
        self.database_set = EncodedSet()
        # each database item's position in the training set (-1: none), for the methods that
        # learn the database's codes; set from the data module before each validation
        self._database_training_positions: torch.Tensor | None = None

    @property
    def hash_bits(self) -> int:
        return self.hparams.hash_bits

    @property
    def method_setting_changes(self) -> dict[str, bool]:
        """The training settings of the run that differ from its method's own (run.json's
        ``method_changes`` beside its options): ``freeze_backbone`` where the backbone is frozen
        for a method whose authors train it, or trained for one whose authors freeze it."""
        if self.freezes_backbone == self.method.trains_backbone:
            return {"freeze_backbone": self.freezes_backbone}
        return {}

    def train(self, mode: bool = True) -> SSDHModule:
        super().train(mode)
        if self.freezes_backbone:  # frozen: its batch norm and dropout as in evaluation
            self.backbone.eval()
        return self

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

    def database_codes_of_files(self, codes: torch.Tensor, paths) -> torch.Tensor:
        """The codes that database items read from the files ``paths`` get: the network's
        ``codes``, but where the method learned the codes of its training items (ADSH), those
        for the files it was trained on (known by ``images.files.path_key``)."""
        if not self.method.learns_database_codes:
            return codes
        keys = torch.tensor([path_key(path) for path in paths], device=codes.device)
        return self.method.database_codes(codes, self.method.training_positions(keys))

    def method_loss(self, batch: Batch) -> MethodLoss:
        """The method's loss of a batch of uint8 images, their labels and positions, and the
        class logits of the methods that classify: what a training step minimises."""
        features, latent = self._outputs(batch.images)
        return self._loss(features, latent, batch)

    def _loss(self, features: torch.Tensor, latent: torch.Tensor, batch: Batch) -> MethodLoss:
        inputs = LatentBatch(latent, batch.labels, features, batch.positions)
        return self.method.loss(inputs, self.head.classifier)

    def _data(self) -> RetrievalDataModule | None:
        trainer = self._trainer
        datamodule = trainer.datamodule if trainer is not None else None
        return datamodule if isinstance(datamodule, RetrievalDataModule) else None

    def _bind_training_set(self) -> None:
        """Give the method the training set's labels and keys (checked against its state)."""
        datamodule = self._data()
        if datamodule is None:
            if self.method.keeps_training_set:
                raise ValueError(
                    f"method={self.method.name} needs the training set it learns from: fit and "
                    "validate the module with a RetrievalDataModule (datamodule=...)"
                )
            return
        items = datamodule.training_items()
        self.method.bind_training_set(items.labels.to(self.device), items.keys.to(self.device))
        if self.method.learns_database_codes:
            positions = datamodule.database_training_positions()
            self._database_training_positions = torch.from_numpy(positions).to(self.device)

    def on_fit_start(self) -> None:
        self._bind_training_set()

    def on_validation_start(self) -> None:
        self._bind_training_set()

    def on_train_batch_end(self, outputs, batch: Batch, batch_idx: int) -> None:
        trainer = self.trainer
        if batch_idx + 1 >= trainer.num_training_batches or trainer.is_last_batch:
            self.method.end_training_epoch()

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
            if self._database_training_positions is not None:
                training = self._database_training_positions[batch.positions]
                encoded = encoded._replace(
                    codes=self.method.database_codes(encoded.codes, training)
                )
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
        weight decay on weights only (biases get ``bias_decay_mult`` times it: 0 in the paper, 1
        in the authors' recipes whose code decays every parameter). 1-D parameters (biases,
        normalisation scales) count as biases.
        The latent (hash) layer learns at ``latent_lr_mult`` times the rate (1 in the paper; the
        authors' recipes of several methods give their hash layer 10x or 100x).
        """
        options = self.optimizer_options
        multipliers = {
            "network": 1.0,
            "latent": options["latent_lr_mult"],
            "classifier": options["classifier_lr_mult"],
        }
        # At 1x the latent layer stays in the network's groups: the optimiser state of a
        # checkpoint written before latent_lr_mult existed has those groups, and resumes.
        own_groups = ("classifier",) + (("latent",) if multipliers["latent"] != 1.0 else ())
        groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
        for name, parameter in self.named_parameters():
            if not parameter.requires_grad:  # a frozen backbone
                continue
            layer = next(
                (layer for layer in own_groups if name.startswith(f"head.{layer}.")), "network"
            )
            groups.setdefault((layer, parameter.ndim <= 1), []).append(parameter)
        result = []
        for (layer, bias), parameters in sorted(groups.items()):
            multiplier = multipliers[layer] * (options["bias_lr_mult"] if bias else 1.0)
            result.append(
                {
                    "params": parameters,
                    "lr": options["lr"] * multiplier,
                    "weight_decay": options["weight_decay"]
                    * (options["bias_decay_mult"] if bias else 1.0),
                    "name": layer + ("_bias" if bias else ""),
                }
            )
        return result

    def configure_optimizers(self):
        options = self.optimizer_options
        # Adam has no momentum option (its betas play that part); SGD and RMSprop take it, and
        # SGD alone Nesterov's form of it
        momentum = {} if options["name"] == "adam" else {"momentum": options["momentum"]}
        if options["name"] == "sgd":
            momentum["nesterov"] = options["nesterov"]
        optimizer = OPTIMIZERS[options["name"]](
            self.parameter_groups(), lr=options["lr"], **momentum
        )
        schedule = self.hparams.scheduler or {}
        gamma = schedule.get("gamma", 0.1)
        if schedule.get("milestones"):
            scheduler = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, milestones=list(schedule["milestones"]), gamma=gamma
            )
        elif schedule.get("step_size"):
            scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=schedule["step_size"], gamma=gamma
            )
        else:
            return optimizer
        interval = schedule.get("interval", "step")
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }
