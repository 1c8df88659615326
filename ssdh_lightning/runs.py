"""``train`` and ``evaluate``: plain functions over a composed config; the CLIs only call them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from ssdh_lightning import metric_names
from ssdh_lightning.baselines import check_baselines, hashing_metrics, initial_metrics
from ssdh_lightning.callbacks import RetrievalEvaluation, find_evaluation
from ssdh_lightning.checkpoints import (
    check_hash_bits,
    check_same_data,
    read_checkpoint,
    trained_module,
)
from ssdh_lightning.config_checks import check_eval_config, check_train_config
from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import write_json
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.summary import metrics_table
from ssdh_lightning.untrusted_configs import check_data_config

CLASS_NAMES_FILE = "class_names.json"


def _datamodule(data_cfg, run_dir: Path) -> RetrievalDataModule:
    """The data module, loaded (the model needs its classes and preprocessing); its class names,
    index by index, are written to the run folder."""
    datamodule = instantiate(data_cfg, report_dir=str(run_dir))
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_json(run_dir / CLASS_NAMES_FILE, datamodule.class_names)
    return datamodule


def _trainer(
    cfg: DictConfig, run_dir: Path, callbacks: list, logger, datamodule: RetrievalDataModule
) -> L.Trainer:
    return instantiate(
        cfg.trainer,
        default_root_dir=str(run_dir),
        callbacks=[*callbacks, *datamodule.run_callbacks()],
        logger=logger,
    )


def _initial_row(trainer: L.Trainer, model: SSDHModule, datamodule, baselines) -> dict:
    """The 'initial' baseline row, if asked for: ES of ``model`` as it is, scored now so that
    its features need not be kept through training."""
    if "initial" not in baselines:
        return {}
    trainer.validate(model, datamodule=datamodule, verbose=False)
    evaluation = find_evaluation(trainer)
    return initial_metrics(evaluation.sets, evaluation.settings)


def _scores(trainer: L.Trainer, evaluation: RetrievalEvaluation, initial_row, baselines, seed):
    """The final metrics: accuracy and loss, the three modes, then the baseline rows."""
    metrics = {
        metric_names.final(name): float(trainer.callback_metrics[name])
        for name in (metric_names.VAL_ACCURACY, metric_names.VAL_LOSS)
        if name in trainer.callback_metrics
    }
    metrics |= evaluation.latest  # float64, unlike the logged copies
    hashers = [method for method in baselines if method != "initial"]
    if hashers:
        hash_bits = evaluation.sets["query_codes"].shape[1]
        metrics |= hashing_metrics(hashers, evaluation.sets, hash_bits, evaluation.settings, seed)
    return metrics | initial_row


def _curves(evaluation: RetrievalEvaluation) -> dict:
    scores = evaluation.scores
    curves = {"precision_at_k": {m: s.precision_curve.tolist() for m, s in scores.modes.items()}}
    if "bcs" in scores.modes:
        precision, recall = scores.pr_curve()
        curves["bcs_pr"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    return curves


def _describe(cfg: DictConfig, datamodule: RetrievalDataModule, hash_bits: int) -> dict:
    """What a report groups runs by; the same whether the run came from the CLI or Python."""
    return {
        "data": datamodule.name,
        "hash_bits": hash_bits,
        "backbone": cfg.model.backbone.name if cfg.get("model") else None,
        "experiment": cfg.get("experiment_name"),
        "seed": int(cfg.seed),
    }


def _log_summary(trainer: L.Trainer, description: dict, metrics: dict[str, float]) -> None:
    """TensorBoard's HParams tab: the run's description against its final metrics."""
    params = {key: value for key, value in description.items() if value is not None}
    finals = {f"hparams/{key}": value for key, value in metrics.items() if np.isfinite(value)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, finals)


def _finish(run_dir: Path, metrics: dict[str, float], checkpoints: list[str]) -> None:
    write_json(run_dir / metric_names.METRICS_FILE, metrics)
    print(metrics_table(metrics))
    print(f"\nRun folder: {run_dir}")
    print(f"  metrics:     {run_dir / metric_names.METRICS_FILE}")
    for checkpoint in checkpoints:
        print(f"  checkpoint:  {checkpoint}")
    if (run_dir / "tensorboard").is_dir():
        print(f"  TensorBoard: tensorboard --logdir {run_dir}")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model, score the final model on queries against the database, with the baseline
    rows of ``cfg.baselines``; save metrics.json, curves.json and run.json in the run folder."""
    check_train_config(cfg)
    run_dir = Path(cfg.output_dir)
    baselines = check_baselines(cfg.get("baselines") or [])
    metric_names.check_objective(cfg.objective)
    resumed = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    if resumed is not None:
        check_hash_bits(cfg.ckpt_path, resumed, cfg.model.hash_bits)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = _datamodule(cfg.data, run_dir)
    if resumed is not None:
        check_same_data(
            cfg.ckpt_path,
            resumed,
            datamodule,
            fix="resume on the data it was trained on, or train anew without ckpt_path",
        )
    model = instantiate(
        cfg.model,
        num_classes=datamodule.num_classes,
        preprocessing=datamodule.preprocessing.as_dict(),
        class_names=datamodule.class_names,
        data_config=OmegaConf.to_container(cfg.data, resolve=True),
    )
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = _trainer(cfg, run_dir, callbacks, logger, datamodule)
    initial_row = _initial_row(trainer, model, datamodule, baselines)
    # Plain data only, also where trainer.plugins replaces AtomicCheckpointIO (which forces it).
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    # Score the last model (no selection on the queries), so the numbers match last.ckpt; fit's
    # own last validation did, unless training stopped between two of them.
    evaluation = find_evaluation(trainer)
    if evaluation.step != trainer.global_step:
        trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = _scores(trainer, evaluation, initial_row, baselines, cfg.seed)
    description = _describe(cfg, datamodule, model.hash_bits)
    write_json(run_dir / metric_names.RUN_FILE, description)
    write_json(run_dir / metric_names.CURVES_FILE, _curves(evaluation))
    _log_summary(trainer, description, metrics)
    saved = [c.best_model_path for c in trainer.checkpoint_callbacks if c.best_model_path]
    _finish(run_dir, metrics, saved)
    return metrics


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float:
    """The final metric named by ``cfg.objective``: what the training command returns."""
    if cfg.objective not in metrics:
        raise ValueError(
            f"objective={cfg.objective!r} is not among the run's final metrics; choose one of "
            f"{', '.join(sorted(metrics))}"
        )
    return metrics[cfg.objective]


def _training_seed(hparams: dict) -> int:
    data_config = hparams.get("data_config")
    return data_config.get("seed", 0) if isinstance(data_config, Mapping) else 0


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Recompute a checkpoint's metrics, on the data it was trained on unless ``data`` is set,
    with the baseline rows of ``cfg.baselines``."""
    check_eval_config(cfg)
    run_dir = Path(cfg.output_dir)
    baselines = check_baselines(cfg.get("baselines") or [])
    checkpoint = read_checkpoint(cfg.ckpt_path)
    hparams = checkpoint["hyper_parameters"]
    # The checkpoint's own data, unless data=... is chosen: checked before anything is built.
    data_cfg = cfg.get("data") or check_data_config(
        hparams.get("data_config"), "data_config", f"checkpoint {cfg.ckpt_path}"
    )
    if cfg.get("seed") is None:  # the training run's seed; `data=...` takes it too (${seed})
        cfg.seed = _training_seed(hparams)
    L.seed_everything(cfg.seed, workers=True)
    # The model before fine-tuning, for the 'initial' row only (pretrained backbones load their
    # weights): the checkpoint's config with its starting weights, drawn as the training run
    # drew them (same seed, first thing after seeding).
    untrained = SSDHModule(**hparams) if "initial" in baselines else None
    model = trained_module(checkpoint)
    datamodule = _datamodule(data_cfg, run_dir)
    check_same_data(
        cfg.ckpt_path, checkpoint, datamodule, fix="evaluate it on its own data (leave data unset)"
    )
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = _trainer(cfg, run_dir, callbacks, False, datamodule)
    initial_row = _initial_row(trainer, untrained, datamodule, baselines)
    trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = _scores(trainer, find_evaluation(trainer), initial_row, baselines, cfg.seed)
    _finish(run_dir, metrics, [str(cfg.ckpt_path)])
    return metrics
