"""Training called from Python, as a sweeper calls it: the objective comes back, and the run
describes itself as the command line's run does."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.train import main
from ssdh_lightning.tasks.run_folder import METRICS_FILE, RUN_FILE


def compose_train(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_main_returns_the_objective_and_run_json_names_the_data_set(tmp_path):
    cfg = compose_train(
        "trainer.max_steps=2",
        "trainer.enable_progress_bar=false",
        "baselines=[]",
        "objective=es/map@all",
        f"output_dir={tmp_path}",
    )
    value = main(cfg)
    metrics = json.loads((tmp_path / METRICS_FILE).read_text())
    assert value == metrics["es/map@all"]
    run = json.loads((tmp_path / RUN_FILE).read_text())
    assert run["data"] == "digits" and run["experiment"] is None and run["hash_bits"] == 48


def test_an_objective_that_names_no_metric_stops_before_training(tmp_path):
    cfg = compose_train("objective=bcs_map", f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match=r"objective='bcs_map' names no final metric"):
        main(cfg)
    assert not any(tmp_path.iterdir())


def test_experiments_name_themselves():
    assert compose_train("experiment=mnist_small").experiment_name == "mnist_small"
    assert compose_train("experiment=cifar10_alexnet").experiment_name == "cifar10_alexnet"
