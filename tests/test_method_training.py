"""Every method in the one LightningModule: its training step learns, its state (per-item state
included) survives a checkpoint and a resume, multi-hot labels train the methods that take them,
and bad choices stop early."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from helpers import compose_config, run_tool
from ssdh_lightning.checkpoints import read_checkpoint, trained_module
from ssdh_lightning.cli.train import main
from ssdh_lightning.data import DigitsDataModule
from ssdh_lightning.data.base import Batch, Splits
from ssdh_lightning.data.in_memory import InMemoryImages
from ssdh_lightning.methods import METHODS, build_method, unsupervised_methods
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.run_files import METRICS_FILE, RUN_FILE

METHOD_NAMES = list(METHODS)
SMALL_CNN = {"name": "small_cnn", "widths": [16, 32], "feature_dim": 64}


def method_config(name: str) -> dict:
    """conf/method/NAME.yaml as the module receives it."""
    return OmegaConf.to_container(compose_config("train", f"method={name}").method, resolve=True)


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    datamodule = DigitsDataModule(seed=0)
    datamodule.setup()
    return datamodule


def small_module(digits, method: str, **options) -> SSDHModule:
    """A small model of ``method``; the unsupervised methods on a frozen backbone, as their
    authors train them and as their default does (the hash layer alone: the features they
    preserve stay put)."""
    torch.manual_seed(0)
    return SSDHModule(
        hash_bits=16,
        num_classes=digits.num_classes,
        preprocessing=digits.preprocessing.as_dict(),
        backbone=SMALL_CNN,
        latent_init_std=0.05,
        optimizer={"lr": 0.01},
        method=method_config(method),
        train_size=digits.train_size,
        **options,
    )


def bound(module: SSDHModule, datamodule) -> SSDHModule:
    """The module's method told of the training set, as fitting and validating do."""
    module.method.bind_training_set(*datamodule.training_items())
    return module


def first_batch(digits, size: int = 256) -> Batch:
    return digits.splits.train.__getitems__(list(range(size)))


# The methods whose state a checkpoint must carry: those with buffers.
STATEFUL = [
    name
    for name in METHOD_NAMES
    if build_method(method_config(name), hash_bits=4, num_classes=10, train_size=8).state_dict()
]

# Training steps within which a method's loss must fall below its first value. Most fall after
# one step. DFH's and LCDSH's first rise: their targets (DFH's codes drawn toward the centres,
# LCDSH's binary similarities) are signs, which move while the relaxed codes cross zero; DFH's
# falls below its start after about 10 steps, LCDSH's after about 45.
MOST_STEPS = 60


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_a_few_training_steps_of_every_method_lower_its_loss(digits, method):
    module = bound(small_module(digits, method), digits)
    batch = first_batch(digits)
    optimizer = module.configure_optimizers()
    losses: list[float] = []
    while len(losses) < 2 or (losses[-1] >= losses[0] and len(losses) < MOST_STEPS):
        optimizer.zero_grad()
        module.method.start_training_step()
        loss = module.method_loss(batch).loss
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0], (method, losses)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_every_methods_checkpoint_rebuilds_the_same_model_and_state(digits, method, tmp_path):
    module = bound(small_module(digits, method, data_config={"_target_": "x"}), digits)
    batch = first_batch(digits)
    for _ in range(3):  # state moves: schedules, the memory's rows, an epoch's update
        module.method.start_training_step()
        with torch.no_grad():
            module.method_loss(batch)
    module.method.end_training_epoch()
    path = tmp_path / "model.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    rebuilt = trained_module(read_checkpoint(path), path)  # weights_only: plain data
    assert rebuilt.method.name == method
    for name, buffer in module.method.state_dict().items():
        assert torch.equal(rebuilt.method.state_dict()[name], buffer), name
    module.eval()
    with torch.no_grad():
        codes = module.encode(batch.images).codes
        assert torch.equal(rebuilt.encode(batch.images).codes, codes)
    # the codes the database gets: ADSH's learned ones for these training items
    database = module.method.database_codes(codes, batch.positions)
    assert torch.equal(rebuilt.method.database_codes(codes, batch.positions), database)


class MultiHotDigits(DigitsDataModule):
    """Digits with multi-hot labels: the digit, and class 10 'even' for 0, 2, 4, 6, 8."""

    def load_splits(self) -> Splits:
        splits = super().load_splits()

        def multi_hot(dataset: InMemoryImages) -> InMemoryImages:
            labels = torch.nn.functional.one_hot(dataset.labels, 11)
            labels[:, 10] = (dataset.labels % 2 == 0).long()
            return InMemoryImages(dataset.images, labels.float())

        database = multi_hot(splits.database)
        splits.train, splits.query, splits.database = database, multi_hot(splits.query), database
        splits.class_names = [*splits.class_names, "even"]
        return splits


def fit_briefly(
    module: SSDHModule,
    datamodule,
    tmp_path,
    epochs: int = 1,
    callbacks: list | None = None,
    enable_checkpointing: bool = False,
    ckpt_path=None,
) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=epochs,
        limit_train_batches=3,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=enable_checkpointing or ckpt_path is not None,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=callbacks,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    return trainer


@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if not METHODS[m].single_label_only])
def test_multi_hot_labels_train_and_the_classifier_is_scored_by_its_map(method, tmp_path):
    datamodule = MultiHotDigits(seed=0)
    datamodule.setup()
    module = small_module(datamodule, method)
    metrics = fit_briefly(module, datamodule, tmp_path).callback_metrics
    assert "val/loss" in metrics and "val/accuracy" not in metrics
    assert ("val/classifier_map" in metrics) == module.method.classifies
    if module.method.classifies:
        assert 0 <= metrics["val/classifier_map"] <= 1


class StateAtStart(L.Callback):
    """The method's state when training starts, after a resume has restored it."""

    def on_train_start(self, trainer: L.Trainer, module: SSDHModule) -> None:
        self.state = {k: v.clone() for k, v in module.method.state_dict().items()}


@pytest.mark.parametrize("method", STATEFUL)
def test_a_resumed_run_goes_on_from_the_methods_state(digits, method, tmp_path):
    module = small_module(digits, method)
    first = fit_briefly(module, digits, tmp_path, enable_checkpointing=True)
    checkpoint = first.checkpoint_callback.best_model_path
    saved = read_checkpoint(checkpoint)["state_dict"]
    state = StateAtStart()
    fit_briefly(small_module(digits, method), digits, tmp_path, 2, [state], ckpt_path=checkpoint)
    assert state.state.keys() == module.method.state_dict().keys()
    for name, value in state.state.items():
        assert torch.equal(value, saved[f"method.{name}"]), name
        assert torch.equal(value, module.method.state_dict()[name]), name


def test_a_single_label_method_given_multi_hot_labels_stops_before_any_update(tmp_path):
    datamodule = MultiHotDigits(seed=0)
    datamodule.setup()
    module = small_module(datamodule, "greedyhash")
    start = {name: p.detach().clone() for name, p in module.named_parameters()}
    with pytest.raises(ValueError, match="method=greedyhash trains on single-label data only"):
        fit_briefly(module, datamodule, tmp_path)
    assert all(torch.equal(p, start[name]) for name, p in module.named_parameters())


def test_csq_with_more_classes_than_centres_stops_before_training(tmp_path):
    cfg = compose_config("train", "method=csq", "model.hash_bits=3", f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match=r"method=csq .*num_classes=10 .*model.hash_bits=4"):
        main(cfg)
    assert not (tmp_path / "checkpoints").exists()


def test_an_unknown_method_lists_the_choices():
    with pytest.raises(MissingConfigException, match=r"(?s)method.*csq.*dpsh.*greedyhash.*lin2015"):
        compose_config("train", "method=foo")


def test_run_json_records_the_method(tmp_path):
    cfg = compose_config(
        "train",
        "method=hashnet",
        "trainer.max_steps=2",
        "trainer.enable_progress_bar=false",
        "baselines=[]",
        f"output_dir={tmp_path}",
    )
    main(cfg)
    assert json.loads((tmp_path / RUN_FILE).read_text())["method"] == "hashnet"


def train_and_evaluate(tmp_path, *overrides: str) -> dict[str, float]:
    """A default ssdh-train run (30 epochs, 48 bits) with ``overrides``; then ssdh-eval on its
    last.ckpt, which must give the same figures. The run's metrics."""
    run_dir, eval_dir = tmp_path / "run", tmp_path / "eval"
    quiet = "trainer.enable_progress_bar=false"
    run_tool("ssdh-train", *overrides, quiet, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    trained = json.loads((run_dir / METRICS_FILE).read_text())
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    run_tool(
        "ssdh-eval", f"ckpt_path={checkpoint}", quiet, f"hydra.run.dir={eval_dir}", cwd=tmp_path
    )
    evaluated = json.loads((eval_dir / METRICS_FILE).read_text())
    for key in ("bcs/map@all", "es/map@all", "hds/map@all", "bcs/precision_r2", "loss"):
        assert evaluated[key] == pytest.approx(trained[key], abs=1e-6), key
    return trained


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if METHODS[m].uses_labels])
def test_every_method_learns_digits_with_its_defaults_and_ssdh_eval_agrees(method, tmp_path):
    trained = train_and_evaluate(tmp_path, f"method={method}", "baselines=[]")
    assert trained["bcs/map@all"] >= 0.90, trained["bcs/map@all"]


@pytest.mark.slow
@pytest.mark.parametrize("method", unsupervised_methods())
def test_every_unsupervised_method_beats_lsh_on_the_same_untrained_features(method, tmp_path):
    """With its defaults: the hash layer alone on the frozen, untrained small CNN (their authors
    train it on a frozen network), against LSH of the same features at the same bits."""
    trained = train_and_evaluate(tmp_path, f"method={method}", "baselines=[lsh_initial]")
    assert trained["bcs/map@all"] > trained["lsh_initial/map@all"], trained
