"""What every task writes into its run folder, and the steps train and evaluate share."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssdh_lightning import metric_names
from ssdh_lightning.baselines import (
    HASHERS,
    INITIAL_HASHERS,
    hashing_metrics,
    initial_metrics,
    on_initial_features,
)
from ssdh_lightning.callbacks import RetrievalEvaluation, find_evaluation
from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import write_json
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.summary import metrics_table

METRICS_FILE = "metrics.json"  # the final metrics, keyed as metric_names spells them
RUN_FILE = "run.json"  # what a run was: data set, hash_bits, backbone, seed
CURVES_FILE = "curves.json"  # precision@k of each mode, BCS precision-recall
CLASS_NAMES_FILE = "class_names.json"


def loaded_datamodule(data_cfg, run_dir: Path) -> RetrievalDataModule:
    """The data module, loaded (the model needs its classes and preprocessing); its class names,
    index by index, are written to the run folder."""
    datamodule = instantiate(data_cfg, report_dir=str(run_dir))
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_json(run_dir / CLASS_NAMES_FILE, datamodule.class_names)
    return datamodule


def opening_line(description: dict, datamodule: RetrievalDataModule, run_dir: Path) -> str:
    """The first line a training run prints: what it trains, on what, and where it writes."""
    splits = datamodule.splits
    return (
        f"Training {description['backbone']} with {description['method']}, "
        f"{description['hash_bits']} bits, on {description['data']}: {len(splits.train)} "
        f"training images, {len(splits.query)} queries, {len(splits.database)} in the database. "
        f"Run folder: {run_dir}"
    )


def build_trainer(
    cfg: DictConfig, run_dir: Path, callbacks: list, logger, datamodule: RetrievalDataModule
) -> L.Trainer:
    return instantiate(
        cfg.trainer,
        default_root_dir=str(run_dir),
        callbacks=[*callbacks, *datamodule.run_callbacks()],
        logger=logger,
    )


def initial_row(
    trainer: L.Trainer, model: SSDHModule, datamodule, baselines, seed: int
) -> dict[str, float]:
    """The rows on the features before fine-tuning, if asked for: 'initial' (ES of ``model`` as
    it is) and the hashers' ``*_initial`` rows, scored now so that these features need not be
    kept through training."""
    rows = on_initial_features(baselines)
    if not rows:
        return {}
    trainer.validate(model, datamodule=datamodule, verbose=False)
    evaluation = find_evaluation(trainer)
    query, database, settings = evaluation.query, evaluation.database, evaluation.settings
    metrics = initial_metrics(query, database, settings) if metric_names.INITIAL in rows else {}
    hashers = [INITIAL_HASHERS[row] for row in rows if row in INITIAL_HASHERS]
    if hashers:
        hash_bits = query.codes.shape[1]
        metrics |= hashing_metrics(
            hashers, query, database, hash_bits, settings, seed, initial_features=True
        )
    return metrics


def final_metrics(
    trainer: L.Trainer, evaluation: RetrievalEvaluation, initial: dict, baselines, seed: int
) -> dict[str, float]:
    """The final metrics: accuracy (classifier_map for multi-label data) and loss, the three
    modes, then the baseline rows (those on the features before fine-tuning, ``initial``, were
    scored before training)."""
    metrics = {
        metric_names.final(name): float(trainer.callback_metrics[name])
        for name in (
            metric_names.VAL_ACCURACY,
            metric_names.VAL_CLASSIFIER_MAP,
            metric_names.VAL_LOSS,
        )
        if name in trainer.callback_metrics
    }
    metrics |= evaluation.latest  # float64, unlike the logged copies
    hashers = [method for method in baselines if method in HASHERS]
    if hashers:
        query, database = evaluation.query, evaluation.database
        hash_bits = query.codes.shape[1]
        metrics |= hashing_metrics(hashers, query, database, hash_bits, evaluation.settings, seed)
    return metrics | initial


def curves(evaluation: RetrievalEvaluation) -> dict:
    scores = evaluation.scores
    curves = {"precision_at_k": {m: s.precision_curve.tolist() for m, s in scores.modes.items()}}
    if "bcs" in scores.modes:
        precision, recall = scores.pr_curve()
        curves["bcs_pr"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    return curves


def finish(run_dir: Path, metrics: dict[str, float], checkpoints: list[str]) -> None:
    write_json(run_dir / METRICS_FILE, metrics)
    print(metrics_table(metrics))
    print(f"\nRun folder: {run_dir}")
    print(f"  metrics:     {run_dir / METRICS_FILE}")
    for checkpoint in checkpoints:
        print(f"  checkpoint:  {checkpoint}")
    if (run_dir / "tensorboard").is_dir():
        print(f"  TensorBoard: tensorboard --logdir {run_dir}")
    if (run_dir / "csv").is_dir():
        print(f"  CSV:         {run_dir / 'csv' / 'metrics.csv'}")
    if (run_dir / "mlflow.db").is_file():
        print(
            f"  MLflow:      mlflow ui --backend-store-uri sqlite:///{run_dir.resolve()}/mlflow.db"
        )
