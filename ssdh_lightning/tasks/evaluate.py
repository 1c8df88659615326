"""``evaluate``: recompute a checkpoint's metrics into a run folder of its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssdh_lightning.baselines import check_baselines, on_initial_features
from ssdh_lightning.callbacks import find_evaluation
from ssdh_lightning.checkpoints import check_same_data, read_checkpoint, trained_module
from ssdh_lightning.config_checks import check_eval_config
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.tasks.run_folder import (
    build_trainer,
    final_metrics,
    finish,
    initial_row,
    loaded_datamodule,
)
from ssdh_lightning.untrusted_configs import check_data_config


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
    # The model before fine-tuning, for the rows on its features only ('initial', '*_initial';
    # pretrained backbones load their weights): the checkpoint's config with its starting
    # weights, drawn as the training run drew them (same seed, first thing after seeding).
    untrained = SSDHModule(**hparams) if on_initial_features(baselines) else None
    model = trained_module(checkpoint)
    datamodule = loaded_datamodule(data_cfg, run_dir)
    check_same_data(
        cfg.ckpt_path, checkpoint, datamodule, fix="evaluate it on its own data (leave data unset)"
    )
    if not datamodule.labelled:
        raise ValueError(
            f"the data to evaluate checkpoint {cfg.ckpt_path} on has no labels, so retrieval "
            "cannot be scored; choose labelled data of the same images' kind with data=... "
            "(e.g. data=folder data.root=DIR of category folders)"
        )
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = build_trainer(cfg, run_dir, callbacks, False, datamodule)
    initial = initial_row(trainer, untrained, datamodule, baselines, cfg.seed)
    trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = final_metrics(trainer, find_evaluation(trainer), initial, baselines, cfg.seed)
    finish(run_dir, metrics, [str(cfg.ckpt_path)])
    return metrics
