"""Training called from Python, as a sweeper calls it: the objective comes back, and the run
describes itself as the command line's run does."""

from __future__ import annotations

import json

import pytest

from helpers import compose_config
from ssdh_lightning.cli.train import main
from ssdh_lightning.run_files import METRICS_FILE, RUN_FILE


def test_main_returns_the_objective_and_run_json_names_the_data_set(tmp_path):
    cfg = compose_config(
        "train",
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
    assert run["recipe"] == "shared" and "recipe_source" not in run


def test_an_objective_that_names_no_metric_stops_before_training(tmp_path):
    cfg = compose_config("train", "objective=bcs_map", f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match=r"objective='bcs_map' names no final metric"):
        main(cfg)
    assert not any(tmp_path.iterdir())


def test_experiments_name_themselves():
    assert compose_config("train", "experiment=mnist_small").experiment_name == "mnist_small"
    assert (
        compose_config("train", "experiment=cifar10_alexnet").experiment_name == "cifar10_alexnet"
    )


def test_baselines_on_the_features_before_fine_tuning(tmp_path):
    """With no training step the features before and after fine-tuning are the same: each
    hasher's ``*_initial`` row equals its row, and 'initial' (ES) equals ES; Hamming rows carry
    the figures over the orders inside ties."""
    cfg = compose_config(
        "train",
        "trainer.max_steps=0",
        "trainer.enable_progress_bar=false",
        "baselines=[lsh,itq,lsh_initial,itq_initial,initial]",
        f"output_dir={tmp_path}",
    )
    main(cfg)
    metrics = json.loads((tmp_path / METRICS_FILE).read_text())
    for hasher in ("lsh", "itq"):
        for name in ("map@1000", "map@all", "precision@100", "map@1000_tie_avg"):
            assert metrics[f"{hasher}_initial/{name}"] == metrics[f"{hasher}/{name}"]
    assert metrics["initial/map@all"] == metrics["es/map@all"]
    for row in ("bcs", "itq_initial"):
        low, mean, high = (metrics[f"{row}/map@1000_tie_{f}"] for f in ("worst", "avg", "best"))
        assert low <= mean <= high
    assert "es/map@1000_tie_avg" not in metrics and "initial/map@1000_tie_avg" not in metrics
