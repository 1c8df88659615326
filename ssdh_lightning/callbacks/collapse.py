"""Collapse detection at every validation: the signs of ``ssdh_lightning.collapse`` on the
database that RetrievalEvaluation just scored, logged as ``val/collapse/...``, warned about in
the log, and kept for metrics.json (``collapse_record``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import lightning as L
import numpy as np
from lightning.pytorch.trainer.states import TrainerFn

from ssdh_lightning.callbacks.retrieval import find_evaluation
from ssdh_lightning.collapse import (
    CollapseCheck,
    CollapseThresholds,
    check_collapse,
    feature_spread,
)

log = logging.getLogger(__name__)
LOGGED = "val/collapse/"


def _class_count(labels: np.ndarray) -> int:
    """Classes present: class ids (n,), or the columns of a multi-hot (n, classes) matrix."""
    if labels.ndim == 1:
        return len(np.unique(labels))
    return int(np.count_nonzero(labels.sum(axis=0)))


def _final_codes(trainer: L.Trainer) -> bool:
    """Whether this validation's codes are the training's last word: no validation of this fit
    comes after it (the training stops, has taken its steps, or ends its last epoch), and it
    has trained a whole epoch at least (a run stopped within its first, a smoke test of a few
    steps, has not left its start)."""
    steps_done = trainer.max_steps >= 0 and trainer.global_step >= trainer.max_steps
    epochs = trainer.max_epochs if trainer.max_epochs is not None else -1  # -1: no limit
    last_epoch = 0 <= epochs <= trainer.current_epoch + 1
    last = trainer.should_stop or steps_done or (last_epoch and trainer.is_last_batch)
    return last and (trainer.current_epoch >= 1 or trainer.is_last_batch)


class CollapseDetection(L.Callback):
    """Checks the codes, the features and the training loss after every validation; keep it
    after ``retrieval_evaluation`` (conf/callbacks/retrieval.yaml), whose database it reads.

    ``losses`` holds the mean training loss of each period: a training epoch, or the steps up to
    a validation within one, so that a validation every few epochs still sees the last epochs'
    losses; ``check`` the last validation's signs and ``collapsed_steps`` the global steps whose
    validation said collapse."""

    def __init__(self, **thresholds) -> None:
        self.thresholds = CollapseThresholds(**thresholds)
        self.losses: list[float] = []
        self.first_spread: float | None = None
        self.check: CollapseCheck | None = None
        self.collapsed_steps: list[int] = []
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None:  # a batch of unreadable files only trains nothing
            # summed on the loss's device: a float() here would wait for the GPU every step
            self._loss_sum = self._loss_sum + loss.detach()
            self._loss_count += 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_loss_period()

    def _close_loss_period(self) -> None:
        if self._loss_count:
            self.losses.append(float(self._loss_sum) / self._loss_count)
            self._loss_sum, self._loss_count = 0.0, 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # only while fitting: the model before training (lin2015's latent bias of 1 gives every
        # image the code of all ones) and ssdh-eval's runs have nothing to collapse from
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        evaluation = find_evaluation(trainer)
        if evaluation.step != trainer.global_step or evaluation.database is None:
            raise ValueError(
                "CollapseDetection reads the evaluation of this validation: put "
                "callbacks.collapse_detection after callbacks.retrieval_evaluation"
            )
        self._close_loss_period()
        database = evaluation.database
        if self.first_spread is None:
            self.first_spread = feature_spread(database.features)
        self.check = check_collapse(
            database.codes.bytes,  # packed: equal rows are equal codes
            database.features,
            _class_count(database.labels),
            self.losses,
            self.first_spread,
            self.check.distinct_codes if self.check is not None else None,
            self.thresholds,
            last=_final_codes(trainer),
        )
        check = self.check
        logged = {
            "distinct_code_share": check.distinct_code_share,
            "feature_spread_ratio": check.feature_spread_ratio,
            "collapsed": float(check.collapsed),
        }
        if check.loss_change is not None:
            logged["loss_change"] = min(check.loss_change, np.finfo(np.float32).max)
        pl_module.log_dict({LOGGED + name: value for name, value in logged.items()})
        if not check.collapsed:
            return
        first = not self.collapsed_steps
        self.collapsed_steps.append(trainer.global_step)
        if first and trainer.is_global_zero:
            log.warning(
                "Collapse: %s training at epoch %d (step %d), %s. The run goes on, but its codes "
                "say little: try a lower learning rate (model.optimizer.lr).",
                pl_module.method.name,
                trainer.current_epoch,
                trainer.global_step,
                "; ".join(check.reasons),
            )

    def record(self) -> dict | None:
        """The last validation's signs and the steps whose validation said collapse, for
        metrics.json."""
        if self.check is None:
            return None
        return self.check.as_record() | {"collapsed_steps": list(self.collapsed_steps)}


def collapse_record(trainer: L.Trainer) -> dict | None:
    """The CollapseDetection callback's record; None where the callback is switched off."""
    for callback in trainer.callbacks:
        if isinstance(callback, CollapseDetection):
            return callback.record()
    return None
