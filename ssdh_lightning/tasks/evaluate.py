"""``evaluate``: recompute a checkpoint's metrics into a run folder of its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssdh_lightning.baselines import check_baselines, on_initial_features
from ssdh_lightning.callbacks import find_evaluation
from ssdh_lightning.checkpoints import (
    check_same_data,
    module_options,
    read_checkpoint,
    trained_module,
)
from ssdh_lightning.config_checks import (
    RUN_FOLDER,
    RUN_FOLDER_FIX,
    check_eval_config,
    check_seed,
    check_writable,
)
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.tasks.run_folder import (
    build_trainer,
    final_scores,
    finish,
    initial_row,
    loaded_datamodule,
)
from ssdh_lightning.untrusted_configs import build_data_module


def _training_seed(hparams: dict, source: str) -> int:
    """The seed the training run drew its splits and weights with, as its data config says."""
    data_config = hparams.get("data_config")
    seed = data_config.get("seed", 0) if isinstance(data_config, Mapping) else 0
    try:
        check_seed(seed, "data_config.seed")
    except ValueError as error:
        raise ValueError(f"{source}: {error}; or pass seed=N") from None
    return seed


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Recompute a checkpoint's metrics, on the data it was trained on unless ``data`` is set,
    with the baseline rows of ``cfg.baselines``."""
    check_eval_config(cfg)
    run_dir = Path(cfg.output_dir)
    check_writable(run_dir, RUN_FOLDER, RUN_FOLDER_FIX)
    baselines = check_baselines(cfg.get("baselines") or [])
    checkpoint = read_checkpoint(cfg.ckpt_path)
    source = f"checkpoint {cfg.ckpt_path}"
    hparams = module_options(checkpoint, cfg.ckpt_path)
    # The checkpoint's own data, unless data=... is chosen: a config from a file, checked and
    # built directly (never by Hydra) before anything is loaded.
    if cfg.get("data"):
        datamodule = instantiate(cfg.data, report_dir=str(run_dir))
    else:
        datamodule = build_data_module(hparams.get("data_config"), "data_config", source, run_dir)
    if cfg.get("seed") is None:  # the training run's seed; `data=...` takes it too (${seed})
        cfg.seed = _training_seed(hparams, source)
    L.seed_everything(cfg.seed, workers=True)
    # The model before fine-tuning, for the rows on its features only ('initial', '*_initial';
    # pretrained backbones load their weights): the checkpoint's config with its starting
    # weights, drawn as the training run drew them (same seed, first thing after seeding).
    untrained = SSDHModule(**hparams) if on_initial_features(baselines) else None
    model = trained_module(checkpoint, cfg.ckpt_path)
    datamodule = loaded_datamodule(datamodule, run_dir)
    check_same_data(
        cfg.ckpt_path, checkpoint, datamodule, fix="evaluate it on its own data (leave data unset)"
    )
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = build_trainer(cfg, run_dir, callbacks, False, datamodule)
    initial = initial_row(trainer, untrained, datamodule, baselines, cfg.seed)
    trainer.validate(model, datamodule=datamodule, verbose=False)
    final = final_scores(
        trainer, find_evaluation(trainer), datamodule, initial, baselines, cfg.seed
    )
    finish(run_dir, final, [str(cfg.ckpt_path)])
    return final.metrics
