"""Retrieval evaluation after every validation: BCS, ES and HDS on the query and database sets."""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from ssdh_lightning import metric_names
from ssdh_lightning.plots import precision_curve_figure
from ssdh_lightning.retrieval import RetrievalSettings, score_retrieval


class RetrievalEvaluation(L.Callback):
    """Scores the codes and features the module gathered during validation (``encoded_sets``),
    logs every metric as ``val/<mode>/<metric>`` and the precision@k curves as a figure."""

    def __init__(self, settings: Mapping | None = None, plot_curves: bool = True) -> None:
        self.settings = RetrievalSettings(**(settings or {}))
        self.plot_curves = plot_curves
        self.latest: dict[str, float] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            trainer.sanity_checking
        ):  # a few batches only: rankings of a partial database mean nothing
            pl_module.reset_encoded_sets()
            return
        query, database = pl_module.encoded_sets()
        pl_module.reset_encoded_sets()
        scores = score_retrieval(
            query["codes"].cpu().numpy(),
            database["codes"].cpu().numpy(),
            query["labels"].cpu().numpy(),
            database["labels"].cpu().numpy(),
            query["features"].cpu().numpy(),
            database["features"].cpu().numpy(),
            settings=self.settings,
        )
        self.latest = scores.metrics()
        pl_module.log_dict({metric_names.logged(k): v for k, v in self.latest.items()})
        if self.plot_curves and trainer.is_global_zero:
            curves = {mode: s.precision_curve for mode, s in scores.modes.items()}
            figure = precision_curve_figure(curves, title=f"step {trainer.global_step}")
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_figure(
                        metric_names.PRECISION_CURVE, figure, trainer.global_step
                    )
