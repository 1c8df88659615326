"""``train``: fit the model, score it, and write the run folder; returns the final metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ssdh_lightning.baselines import check_baselines, check_objective
from ssdh_lightning.callbacks import collapse_record, find_evaluation
from ssdh_lightning.callbacks.timing import EpochTimer
from ssdh_lightning.checkpoints import (
    check_hash_bits,
    check_same_data,
    check_same_method,
    read_checkpoint,
)
from ssdh_lightning.config_checks import (
    RUN_FOLDER,
    RUN_FOLDER_FIX,
    check_train_config,
    check_writable,
)
from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import write_json
from ssdh_lightning.loggers import build_loggers, close_loggers, log_summary
from ssdh_lightning.methods import DEFAULT_METHOD
from ssdh_lightning.models.backbones import backbone_label, model_input
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.recipes import check_recipe, method_changes, recipe_description
from ssdh_lightning.retrieval import RetrievalScores
from ssdh_lightning.run_files import CURVES_FILE, METRICS_FILE, RUN_FILE
from ssdh_lightning.tasks.run_folder import (
    FinalScores,
    build_trainer,
    curves,
    final_scores,
    finish,
    initial_row,
    loaded_datamodule,
    opening_line,
)

log = logging.getLogger(__name__)


def _describe(cfg: DictConfig, datamodule: RetrievalDataModule, model: SSDHModule) -> dict:
    """What a report groups runs by; the same whether the run came from the CLI or Python."""
    recipe = recipe_description(cfg.get("recipe"))
    method = _method_config(cfg)
    changes = method_changes(method, recipe["recipe"]) | model.method_setting_changes
    return {
        "data": datamodule.name,
        "protocol": cfg.data.get("protocol"),
        # what the protocol drew: a subset of a data set's files under its protocol's name (an
        # MNIST of 5,000 images) is told apart from the whole by these
        "split_sizes": datamodule.splits.sizes,
        "hash_bits": model.hash_bits,
        "method": model.method.name,
        "method_changes": changes,
        # every option, so that a report names the run apart from the method's defaults of its
        # own day, should those move (method_changes is measured against the defaults of this one)
        "method_options": {key: value for key, value in (method or {}).items() if key != "name"},
        **recipe,
        "backbone": backbone_label(OmegaConf.to_container(cfg.model.backbone, resolve=True))
        if cfg.get("model")
        else None,
        "experiment": cfg.get("experiment_name"),
        "seed": int(cfg.seed),
    }


def _method_config(cfg: DictConfig) -> dict | None:
    """The conf/method/ file chosen, as the plain dict the module saves (None: lin2015)."""
    method = cfg.get("method")
    return OmegaConf.to_container(method, resolve=True) if method is not None else None


def _built_model(
    cfg: DictConfig, data_cfg: DictConfig, datamodule: RetrievalDataModule
) -> SSDHModule:
    """The model of ``cfg.model`` and ``cfg.method`` for the data; a value the module refuses
    (CSQ's centres for too few bits, ...) stops the run with the module's own message."""
    try:
        return instantiate(
            cfg.model,
            num_classes=datamodule.num_classes,
            preprocessing=datamodule.preprocessing.as_dict(),
            class_names=datamodule.class_names,
            data_config=OmegaConf.to_container(data_cfg, resolve=True),
            method=_method_config(cfg),
            train_size=datamodule.train_size,
        )
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def with_model_input(data_cfg: DictConfig, backbone: DictConfig) -> DictConfig:
    """``data_cfg`` with what the backbone of ``model.backbone`` expects (``model_input``) where
    it leaves ``image_size`` or ``normalization`` null, so that the preprocessing follows the
    model (AlexNet 256/227 and ImageNet's statistics, a timm model its pretrained config's, the
    small CNN the data set's own); explicit values (or a data set without the key, as digits) are
    kept as they are."""
    wanted = model_input(backbone)
    if wanted is None:
        return data_cfg
    filled = {}
    if "image_size" in data_cfg and data_cfg.image_size is None:
        filled["image_size"] = wanted["image_size"]
        if data_cfg.get("resize") is None:
            filled["resize"] = wanted["resize"]
    if "normalization" in data_cfg and data_cfg.normalization is None:
        filled["normalization"] = wanted["normalization"]
    return OmegaConf.merge(data_cfg, filled)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model, score the final model on queries against the database, with the baseline
    rows of ``cfg.baselines``; save metrics.json, curves.json and run.json in the run folder."""
    check_train_config(cfg)
    check_recipe(cfg.get("recipe"), (cfg.get("method") or {}).get("name", DEFAULT_METHOD))
    run_dir = Path(cfg.output_dir)
    check_writable(run_dir, RUN_FOLDER, RUN_FOLDER_FIX)
    baselines = check_baselines(cfg.get("baselines") or [])
    check_objective(cfg.objective)
    resumed = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    if resumed is not None:
        check_hash_bits(cfg.ckpt_path, resumed, cfg.model.hash_bits)
        check_same_method(cfg.ckpt_path, resumed, _method_config(cfg))
    L.seed_everything(cfg.seed, workers=True)
    data_cfg = with_model_input(cfg.data, cfg.model.backbone)
    datamodule = loaded_datamodule(instantiate(data_cfg, report_dir=str(run_dir)), run_dir)
    if resumed is not None:
        check_same_data(
            cfg.ckpt_path,
            resumed,
            datamodule,
            fix="resume on the data it was trained on, or train anew without ckpt_path",
        )
    model = _built_model(cfg, data_cfg, datamodule)
    description = _describe(cfg, datamodule, model)
    print(opening_line(description, datamodule, run_dir), flush=True)
    # callbacks.NAME=null switches one off
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    timer = EpochTimer()
    loggers = build_loggers(cfg.get("logger"))
    trainer = build_trainer(cfg, run_dir, [*callbacks, timer], loggers, datamodule)
    if not datamodule.labelled:
        log.warning(
            "the data has no labels: method=%s trains on it, but retrieval is not scored (no "
            "validation, no baseline rows, no figures in %s); the checkpoints are written. "
            "Score it with ssdh-eval ckpt_path=... data=... on labelled data",
            model.method.name,
            METRICS_FILE,
        )
        baselines = []
    initial = initial_row(trainer, model, datamodule, baselines, cfg.seed)
    # Plain data only, also where trainer.plugins replaces AtomicCheckpointIO (which forces it).
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    final = _scored(cfg, trainer, model, datamodule, initial, baselines, run_dir)
    metrics = final.metrics
    # this process's epochs: a resumed run times those after its checkpoint
    write_json(run_dir / RUN_FILE, description | {"seconds_per_epoch": timer.seconds_per_epoch})
    log_summary(trainer.loggers, description, metrics, trainer.global_step)
    close_loggers(trainer.loggers)
    saved = [c.best_model_path for c in trainer.checkpoint_callbacks if c.best_model_path]
    collapse = collapse_record(trainer)
    finish(run_dir, final, saved, records={"collapse": collapse} if collapse else None)
    return metrics


def _scored(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: SSDHModule,
    datamodule: RetrievalDataModule,
    initial: dict[str, RetrievalScores],
    baselines: list[str],
    run_dir: Path,
) -> FinalScores:
    """The final scores of the last model, with the curves written beside; none for data
    without labels."""
    if not datamodule.labelled:
        return FinalScores({}, {}, np.empty(0, dtype=np.int64))
    # Score the last model (no selection on the queries), so the numbers match last.ckpt; fit's
    # own last validation did, unless training stopped between two of them.
    evaluation = find_evaluation(trainer)
    if evaluation.step != trainer.global_step:
        trainer.validate(model, datamodule=datamodule, verbose=False)
    write_json(run_dir / CURVES_FILE, curves(evaluation))
    return final_scores(trainer, evaluation, datamodule, initial, baselines, cfg.seed)


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float:
    """The final metric named by ``cfg.objective``: what the training command returns; NaN
    for a run with no metrics (data without labels: nothing was scored)."""
    if not metrics:
        return float("nan")
    if cfg.objective not in metrics:
        raise ValueError(
            f"objective={cfg.objective!r} is not among the run's final metrics; choose one of "
            f"{', '.join(sorted(metrics))}"
        )
    return metrics[cfg.objective]
