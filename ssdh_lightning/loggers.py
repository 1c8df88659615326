"""The loggers a training run writes to (``logger=``: tensorboard, csv, mlflow, wandb, or several
at once, conf/logger/), and what each gets beyond the scalars Lightning sends them all: the run's
summary (its description against its final metrics) and images, through each logger's own API.

Lightning's ``log``/``log_dict`` reach every logger; only what Lightning has no common call for is
written here, once, for all of them."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SUMMARY_PREFIX = "hparams/"  # the final metrics, beside the curves of val/...


def mlflow_name(key: str) -> str:
    """``key`` as MLflow takes it: its names allow no '@', so ``val/bcs/map@1000`` becomes
    ``val/bcs/map_at_1000``."""
    return key.replace("@", "_at_")


class MLflowLogger(MLFlowLogger):
    """Lightning's MLFlowLogger, by default on a store of its own in the run folder (an SQLite
    file, ``mlflow.db``, and the images under ``mlflow-artifacts/``), and with the project's metric
    names kept readable (``mlflow_name``; Lightning would drop the '@' and warn at every step).

    ``tracking_uri`` (or the environment's ``MLFLOW_TRACKING_URI``) sends the run elsewhere: a
    tracking server (``http://host:5000``) or a shared database (``sqlite:///path/mlflow.db``).
    MLflow 3 refuses its older file store (``./mlruns``) unless told otherwise.
    """

    def __init__(
        self,
        save_dir: str,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        **options: Any,
    ) -> None:
        tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if tracking_uri is None:
            folder = Path(save_dir).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
            artifact_location = artifact_location or str(folder / "mlflow-artifacts")
        super().__init__(
            tracking_uri=tracking_uri,
            artifact_location=artifact_location,
            save_dir=save_dir,
            **options,
        )

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({mlflow_name(key): value for key, value in metrics.items()}, step)


def build_loggers(config: Mapping | None) -> list[Logger]:
    """The loggers of ``cfg.logger``, a mapping of name to logger config (conf/logger/; a name
    set to null is left out); none for ``logger=null``."""
    loggers = [instantiate(c) for c in (config or {}).values() if c is not None]
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        # A run that an earlier job of this process left open (it failed before its end) would
        # otherwise take this job's logs: Lightning reuses an open W&B run.
        if wandb.run is not None:
            wandb.finish(exit_code=1)
    return loggers


def log_summary(
    loggers: Iterable[Logger],
    description: Mapping[str, Any],
    metrics: Mapping[str, float],
    step: int,
) -> None:
    """The run's description (data, hash_bits, method, backbone, ...) as hyper-parameters, against
    its final metrics as ``hparams/<key>``: TensorBoard's HParams tab, MLflow's params and metrics,
    W&B's config and summary, the CSV's hparams.yaml and last row."""
    params = {key: value for key, value in description.items() if value is not None}
    finals = {
        f"{SUMMARY_PREFIX}{key}": value for key, value in metrics.items() if math.isfinite(value)
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, finals)  # the HParams tab links the two
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(finals, step)


def close_loggers(loggers: Iterable[Logger]) -> None:
    """Flush and close every logger at the end of a run (after Lightning's own ``finalize`` at
    the end of ``fit``, the summary was written): a W&B run is finished, so that the next job of a
    sweep in this process starts its own."""
    for logger in loggers:
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()


def takes_images(logger: Logger) -> bool:
    return isinstance(logger, TensorBoardLogger | MLFlowLogger | WandbLogger)


def rendered(figure: Figure) -> np.ndarray:
    """A matplotlib figure as an RGB image (H, W, 3) of uint8."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def log_image(loggers: Iterable[Logger], key: str, image: np.ndarray, step: int) -> None:
    """An RGB image (H, W, 3) of uint8 to every logger that takes images."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, step, dataformats="HWC")
        elif isinstance(logger, WandbLogger):
            logger.log_image(key, [image], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_image(logger.run_id, image, key=mlflow_name(key), step=step)


def log_histogram(loggers: Iterable[Logger], key: str, values: np.ndarray, step: int) -> None:
    """A histogram of ``values`` to every logger that draws histograms (TensorBoard, W&B)."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_histogram(key, values, step)
        elif isinstance(logger, WandbLogger):
            import wandb

            logger.log_metrics({key: wandb.Histogram(values)}, step)
