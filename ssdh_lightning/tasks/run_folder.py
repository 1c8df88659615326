"""What every task writes into its run folder, and the steps train and evaluate share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssdh_lightning import metric_names
from ssdh_lightning.baselines import HASHERS, INITIAL_HASHERS, on_initial_features
from ssdh_lightning.baselines.rows import as_row, hashing_scores, initial_scores, rows_metrics
from ssdh_lightning.callbacks import RetrievalEvaluation, find_evaluation
from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import write_json
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.per_query import write_per_query
from ssdh_lightning.recipes import training_label
from ssdh_lightning.reporting.summary import metrics_table
from ssdh_lightning.retrieval import RetrievalScores
from ssdh_lightning.run_files import CLASS_NAMES_FILE, METRICS_FILE, PER_QUERY_FILE


def loaded_datamodule(datamodule: RetrievalDataModule, run_dir: Path) -> RetrievalDataModule:
    """``datamodule``, loaded (the model needs its classes and preprocessing); its class names,
    index by index, are written to the run folder."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_json(run_dir / CLASS_NAMES_FILE, datamodule.class_names)
    return datamodule


def opening_line(description: dict, datamodule: RetrievalDataModule, run_dir: Path) -> str:
    """The first line a training run prints: what it trains, on what, and where it writes."""
    splits = datamodule.splits
    trained = training_label(
        description["method"], description["recipe"], description["method_changes"]
    )
    return (
        f"Training {description['backbone']} with {trained}, "
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
) -> dict[str, RetrievalScores]:
    """The rows on the features before fine-tuning, if asked for, each row's scores by its
    name: 'initial' (ES of ``model`` as it is) and the hashers' ``*_initial`` rows, scored now so
    that these features need not be kept through training."""
    rows = on_initial_features(baselines)
    if not rows:
        return {}
    trainer.validate(model, datamodule=datamodule, verbose=False)
    evaluation = find_evaluation(trainer)
    query, database, settings = evaluation.query, evaluation.database, evaluation.settings
    scores = initial_scores(query, database, settings) if metric_names.INITIAL in rows else {}
    hashers = [INITIAL_HASHERS[row] for row in rows if row in INITIAL_HASHERS]
    if hashers:
        hash_bits = query.codes.hash_bits
        scores |= hashing_scores(
            hashers, query, database, hash_bits, settings, seed, initial_features=True
        )
    return scores


@dataclass
class FinalScores:
    """What a run scored at its end: ``metrics`` (metrics.json) and ``per_query``, each query's
    figures (AP@k and precision@k of every row) in the order of ``query_ids``."""

    metrics: dict[str, float]
    per_query: dict[str, np.ndarray]
    query_ids: np.ndarray


def final_scores(
    trainer: L.Trainer,
    evaluation: RetrievalEvaluation,
    datamodule: RetrievalDataModule,
    initial: dict[str, RetrievalScores],
    baselines,
    seed: int,
) -> FinalScores:
    """The final metrics: accuracy (classifier_map for multi-label data) and loss, the three
    modes, then the baseline rows (those on the features before fine-tuning, ``initial``, were
    scored before training); and the per-query figures of the same scores, with the queries'
    ids in ``datamodule``."""
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
    rows: dict[str, RetrievalScores] = {}
    if hashers:
        query, database = evaluation.query, evaluation.database
        hash_bits = query.codes.hash_bits
        rows = hashing_scores(hashers, query, database, hash_bits, evaluation.settings, seed)
    rows |= initial
    per_query = evaluation.scores.per_query()
    for row, scores in rows.items():
        per_query |= as_row(scores.per_query(), row)
    query_ids = datamodule.query_ids(evaluation.query.positions)
    return FinalScores(metrics | rows_metrics(rows), per_query, query_ids)


def curves(evaluation: RetrievalEvaluation) -> dict:
    scores = evaluation.scores
    curves = {"precision_at_k": {m: s.precision_curve.tolist() for m, s in scores.modes.items()}}
    if "bcs" in scores.modes:
        precision, recall = scores.pr_curve()
        curves["bcs_pr"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    return curves


def finish(
    run_dir: Path, final: FinalScores, checkpoints: list[str], records: dict | None = None
) -> None:
    """Write metrics.json (the metrics, and ``records`` beside them: objects that are not
    metrics, the collapse check's) and the per-query figures; print where they are."""
    write_json(run_dir / METRICS_FILE, final.metrics | (records or {}))
    write_per_query(run_dir / PER_QUERY_FILE, final.query_ids, final.per_query)
    print(metrics_table(final.metrics))
    print(f"\nRun folder: {run_dir}")
    print(f"  metrics:     {run_dir / METRICS_FILE}")
    print(f"  per query:   {run_dir / PER_QUERY_FILE}")
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
