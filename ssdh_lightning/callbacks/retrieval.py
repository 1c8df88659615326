"""Retrieval evaluation after every validation: BCS, ES and HDS on the query and database sets."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import torch

from ssdh_lightning import metric_names
from ssdh_lightning.retrieval import (
    EvaluationSet,
    RetrievalScores,
    RetrievalSettings,
    pack_codes,
    score_retrieval,
)


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
    metrics), ``scores`` (per-query scores and curves), ``query`` and ``database`` (the two
    ``EvaluationSet``s scored), with ``step``, the global step it was made at.
    """

    def __init__(self, settings: Mapping | None = None) -> None:
        self.settings = RetrievalSettings(**(settings or {}))
        self.latest: dict[str, float] = {}
        self.scores: RetrievalScores | None = None
        self.query: EvaluationSet | None = None
        self.database: EvaluationSet | None = None
        self.step: int | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # sanity checking runs a few batches only: rankings of a partial database mean nothing
        if trainer.sanity_checking:
            pl_module.reset_encoded_sets()
            return
        query, database = pl_module.encoded_sets()
        pl_module.reset_encoded_sets()
        hash_bits = pl_module.hash_bits
        self.query = _evaluation_set(query, hash_bits)
        self.database = _evaluation_set(database, hash_bits)
        self.scores = score_retrieval(self.query, self.database, settings=self.settings)
        self.latest = self.scores.metrics()
        self.step = trainer.global_step
        pl_module.log_dict({metric_names.logged(k): v for k, v in self.latest.items()})


def _evaluation_set(encoded: Mapping[str, torch.Tensor], hash_bits: int) -> EvaluationSet:
    """The module's gathered tensors (``EncodedSet.compute``) as the engine's numpy side, the
    codes packed here once for every mode, row and figure that reads them."""
    arrays = {name: values.cpu().numpy() for name, values in encoded.items()}
    return EvaluationSet(**arrays | {"codes": pack_codes(arrays["codes"], hash_bits)})
