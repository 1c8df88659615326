"""Sweeps through Hydra's own plugins: the submitit launcher (cluster=local runs the jobs of
cluster=slurm as local processes) and the Optuna sweeper (sweep=optuna), each run for real on
the built-in digits, every job's metrics.json read back."""

from __future__ import annotations

import json

import pytest
import yaml
from omegaconf import OmegaConf

from helpers import compose_config, run_tool
from ssdh_lightning.run_files import METRICS_FILE

# one short epoch a job, no shallow baselines: the sweep machinery is what is tested
SHORT = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "baselines=[]"]


def test_cluster_slurm_names_the_queue_and_the_lightning_settings_that_go_with_it():
    overrides = ["cluster=slurm", "cluster.partition=gpu", "cluster.gpus_per_job=4"]
    overrides += ["cluster.nodes=2", "cluster.time_limit_min=90"]
    cfg = compose_config("train", *overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.nodes) == ("gpu", 90, 2)
    # one task a GPU: SLURM starts the DDP processes, Lightning reads their ranks
    assert (launcher.gpus_per_node, launcher.tasks_per_node) == (4, 4)
    assert (cfg.trainer.devices, cfg.trainer.num_nodes, cfg.trainer.strategy) == (4, 2, "ddp")
    assert cfg.trainer.accelerator == "gpu"


def job_metrics(sweep, jobs: int) -> list[dict]:
    return [json.loads((sweep / str(job) / METRICS_FILE).read_text()) for job in range(jobs)]


def test_sweep_optuna_ssdh_searches_ssdh_loss_weights_on_the_ssdh_method():
    cfg = compose_config("train", "sweep=optuna_ssdh", return_hydra_config=True)
    assert cfg.method.name == "ssdh"
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    searched = set(sweeper.params)
    assert {"method.binarisation_weight", "method.balance_weight"} <= searched
    # every searched key names an option of the composed config
    for key in searched:
        assert OmegaConf.select(cfg, key) is not None, key


@pytest.mark.slow
def test_a_multirun_through_submitit_local_runs_every_job_past_a_failed_one(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_tool(
        "ssdh-train",
        "-m",
        "cluster=local",
        "model.hash_bits=8,16,0",  # the third job fails its config check
        *SHORT,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0 and "model.hash_bits=0: must be a positive" in result.stderr
    for job, metrics in enumerate(job_metrics(sweep, 2)):
        assert 0.0 <= metrics["bcs/map@1000"] <= 1.0
        run = json.loads((sweep / str(job) / "run.json").read_text())
        assert run["hash_bits"] == (8, 16)[job]
    assert not (sweep / "2" / METRICS_FILE).exists()
    assert list((sweep / ".submitit").iterdir())  # the jobs went through submitit


@pytest.mark.slow
def test_an_optuna_sweep_maximises_the_objective_over_its_search_space(tmp_path):
    sweep = tmp_path / "sweep"
    run_tool(
        "ssdh-train",
        "-m",
        "sweep=optuna",
        "hydra.sweeper.n_trials=3",
        "model.hash_bits=choice(8,16)",
        *SHORT,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    objectives = [metrics["bcs/map@1000"] for metrics in job_metrics(sweep, 3)]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(max(objectives))
    for job in range(3):
        chosen = dict(
            item.split("=", 1)
            for item in yaml.safe_load((sweep / str(job) / ".hydra" / "overrides.yaml").read_text())
        )
        assert 0.001 <= float(chosen["model.optimizer.lr"]) <= 0.1
        assert 0.00001 <= float(chosen["model.optimizer.weight_decay"]) <= 0.01
        assert int(chosen["model.hash_bits"]) in (8, 16)
        run = json.loads((sweep / str(job) / "run.json").read_text())
        assert run["hash_bits"] == int(chosen["model.hash_bits"])
