"""The paper's experiments as configs, run end to end on small files in the real formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from helpers import call_tool, compose_config, run_tool
from ssdh_lightning import metric_names
from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.run_files import METRICS_FILE
from ssdh_lightning.testing.formats import write_cifar10, write_mnist

# every file of conf/experiment/: one added is composed and checked with the others
EXPERIMENTS = sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def test_cifar10_alexnet_is_the_paper_setup():
    cfg = compose_config("train", "experiment=cifar10_alexnet")
    assert cfg.model.backbone == {"name": "alexnet", "weights": "IMAGENET1K_V1"}
    assert cfg.model.optimizer.lr == 0.001 and cfg.model.optimizer.classifier_lr_mult == 10
    assert cfg.model.optimizer.bias_lr_mult == 2 and cfg.model.optimizer.weight_decay == 0.0005
    assert cfg.model.optimizer.bias_decay_mult == 0 and not cfg.model.optimizer.nesterov
    assert cfg.model.latent_init_std == 0.005
    schedule = {"step_size": 25000, "milestones": None, "gamma": 0.1, "interval": "step"}
    assert dict(cfg.model.scheduler) == schedule
    assert cfg.trainer.max_steps == 50000 and cfg.data.batch_size == 32
    assert list(cfg.data.resize) == [256, 256] and list(cfg.data.image_size) == [227, 227]
    assert cfg.data.protocol == "paper" and cfg.data.mirror


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_keeps_the_monitored_metric(experiment):
    cfg = compose_config("train", f"experiment={experiment}")
    assert cfg.callbacks.best_checkpoint.monitor == metric_names.MONITOR
    assert (cfg.trainer.max_steps > 0) != (cfg.trainer.max_epochs > 0)  # iterations or epochs


@pytest.mark.parametrize("experiment", ["nus_wide_21", "coco"])
def test_the_multi_label_list_experiments_score_map_at_5000_and_name_missing_lists(
    experiment, tmp_path
):
    cfg = compose_config("train", f"experiment={experiment}", f"data.root={tmp_path}")
    assert cfg.data._target_.endswith("ListFileDataModule") and not cfg.data.allow_empty_labels
    assert cfg.objective == "bcs/map@5000" and 5000 in cfg.retrieval.map_at
    with pytest.raises(FileNotFoundError, match="3 list file") as error:
        instantiate(cfg.data).setup()
    assert f"data.train_list: {tmp_path / 'train.txt'}" in str(error.value)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)

    def images(n, shape):
        return rng.integers(0, 256, (n, *shape), dtype=np.uint8)

    def labels(n):
        return np.arange(n) % 10

    write_mnist(root, images(200, (28, 28)), labels(200), images(40, (28, 28)), labels(40))
    classes = [f"class{c}" for c in range(10)]
    write_cifar10(
        root, images(250, (32, 32, 3)), labels(250), images(40, (32, 32, 3)), labels(40), classes
    )
    return root


@pytest.mark.parametrize(
    ("experiment", "extra"),
    [
        ("mnist_small", []),
        ("cifar10_small", []),
        # the paper's network, random weights (no download here) and 2 steps on a CPU
        pytest.param(
            "cifar10_alexnet",
            [
                "model.backbone.weights=null",
                "trainer.max_steps=2",
                "trainer.val_check_interval=2",
                "data.num_workers=0",
            ],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_experiment_trains_on_files_in_the_real_format(data_root, tmp_path, experiment, extra):
    run_dir = tmp_path / "run"
    call_tool(
        "ssdh-train",
        f"experiment={experiment}",
        f"data.root={data_root}",
        "data.download=false",
        *(["data.verify_checksums=false"] if "cifar" in experiment else []),
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.enable_progress_bar=false",
        "baselines=[]",
        *extra,
        run_dir=run_dir,
    )
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert 0 <= metrics["bcs/map@all"] <= 1
    run = json.loads((run_dir / "run.json").read_text())
    assert run["experiment"] == experiment


def test_a_failing_sweep_job_keeps_the_others_results(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_tool(
        "ssdh-train",
        "-m",
        "model.hash_bits=0,8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "baselines=[]",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "model.hash_bits=0: must be a positive integer" in result.stderr
    assert not (sweep / "0" / METRICS_FILE).exists()
    assert json.loads((sweep / "1" / METRICS_FILE).read_text())["bcs/map@all"] >= 0
