"""``train`` and ``evaluate``: plain functions over a composed config; the CLIs only call them."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ssdh_lightning import metric_names
from ssdh_lightning.callbacks import RetrievalEvaluation
from ssdh_lightning.checkpoints import check_hash_bits, load_module, read_checkpoint
from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import write_json
from ssdh_lightning.summary import metrics_table


def _datamodule(data_cfg) -> RetrievalDataModule:
    datamodule = instantiate(data_cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def _trainer(cfg: DictConfig, run_dir: Path, callbacks: list, logger) -> L.Trainer:
    return instantiate(
        cfg.trainer, default_root_dir=str(run_dir), callbacks=callbacks, logger=logger
    )


def _finish(trainer: L.Trainer, run_dir: Path, checkpoints: list[str]) -> dict[str, float]:
    metrics = {
        metric_names.final(name): float(trainer.callback_metrics[name])
        for name in (metric_names.VAL_ACCURACY, metric_names.VAL_LOSS)
        if name in trainer.callback_metrics
    }
    for callback in trainer.callbacks:
        if isinstance(callback, RetrievalEvaluation):
            metrics.update(callback.latest)  # float64, unlike the logged copies
    write_json(run_dir / metric_names.METRICS_FILE, metrics)
    print(metrics_table(metrics))
    print(f"\nRun folder: {run_dir}")
    print(f"  metrics:     {run_dir / metric_names.METRICS_FILE}")
    for checkpoint in checkpoints:
        print(f"  checkpoint:  {checkpoint}")
    if (run_dir / "tensorboard").is_dir():
        print(f"  TensorBoard: tensorboard --logdir {run_dir}")
    return metrics


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model, score the final model on queries against the database, save metrics.json."""
    run_dir = Path(cfg.output_dir)
    if cfg.get("ckpt_path"):
        check_hash_bits(cfg.ckpt_path, read_checkpoint(cfg.ckpt_path), cfg.model.hash_bits)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = _datamodule(cfg.data)
    model = instantiate(
        cfg.model,
        num_classes=datamodule.num_classes,
        preprocessing=datamodule.preprocessing.as_dict(),
        class_names=datamodule.class_names,
        data_config=OmegaConf.to_container(cfg.data, resolve=True),
    )
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = _trainer(cfg, run_dir, callbacks, logger)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    # Score the last model (no selection on the queries), so the numbers match last.ckpt.
    trainer.validate(model, datamodule=datamodule, verbose=False)
    last = trainer.checkpoint_callback and Path(
        trainer.checkpoint_callback.dirpath or "", "last.ckpt"
    )
    return _finish(trainer, run_dir, str(last) if last and last.is_file() else None)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Recompute a checkpoint's metrics, on the data it was trained on unless ``data`` is set."""
    run_dir = Path(cfg.output_dir)
    model = load_module(cfg.ckpt_path)
    data_cfg = cfg.get("data") or model.hparams.data_config
    datamodule = _datamodule(data_cfg)
    if datamodule.num_classes != model.hparams.num_classes:
        raise ValueError(
            f"the checkpoint was trained on {model.hparams.num_classes} classes, but the data has "
            f"{datamodule.num_classes}; evaluate it on its own data (leave data unset)"
        )
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = _trainer(cfg, run_dir, callbacks, logger=False)
    trainer.validate(model, datamodule=datamodule, verbose=False)
    return _finish(trainer, run_dir, [str(cfg.ckpt_path)])
