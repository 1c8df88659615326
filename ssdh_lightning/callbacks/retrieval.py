"""Retrieval evaluation after every validation: BCS, ES and HDS on the query and database sets."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import numpy as np

from ssdh_lightning import metric_names
from ssdh_lightning.retrieval import RetrievalScores, RetrievalSettings, score_retrieval


def find_evaluation(trainer: L.Trainer) -> RetrievalEvaluation:
    """The trainer's RetrievalEvaluation callback, which holds the last evaluation."""
    for callback in trainer.callbacks:
        if isinstance(callback, RetrievalEvaluation):
            return callback
    raise ValueError(
        "this needs the RetrievalEvaluation callback: keep callbacks.retrieval_evaluation in "
        "the config (conf/callbacks/retrieval.yaml)"
    )


class RetrievalEvaluation(L.Callback):
    """Scores the codes and features the module gathered during validation (``encoded_sets``)
    and logs every metric as ``val/<mode>/<metric>``.

    The last evaluation stays available to later callbacks and to the run: ``latest`` (the
    metrics), ``scores`` (per-query scores and curves) and ``sets`` (numpy arrays named
    ``query_codes``, ``database_features``, ...), with ``step``, the global step it was made at.
    """

    def __init__(self, settings: Mapping | None = None) -> None:
        self.settings = RetrievalSettings(**(settings or {}))
        self.latest: dict[str, float] = {}
        self.scores: RetrievalScores | None = None
        self.sets: dict[str, np.ndarray] = {}
        self.step: int | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # sanity checking runs a few batches only: rankings of a partial database mean nothing
        if trainer.sanity_checking:
            pl_module.reset_encoded_sets()
            return
        query, database = pl_module.encoded_sets()
        pl_module.reset_encoded_sets()
        self.sets = {
            f"{side}_{name}": values.cpu().numpy()
            for side, encoded in (("query", query), ("database", database))
            for name, values in encoded.items()
        }
        self.scores = score_retrieval(
            self.sets["query_codes"],
            self.sets["database_codes"],
            self.sets["query_labels"],
            self.sets["database_labels"],
            self.sets["query_features"],
            self.sets["database_features"],
            settings=self.settings,
        )
        self.latest = self.scores.metrics()
        self.step = trainer.global_step
        pl_module.log_dict({metric_names.logged(k): v for k, v in self.latest.items()})
