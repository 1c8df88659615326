"""recipe=shared|authors: each authors' recipe composes and builds the optimiser, rates, batch
and epochs its file names; a method without one stops before training, naming those with one."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import TINY_TRAINING, call_tool, compose_config
from ssdh_lightning.preprocessing import Preprocessing
from ssdh_lightning.recipes import RECIPES_DIR, methods_with_recipe
from ssdh_lightning.run_files import RUN_FILE
from ssdh_lightning.tasks import train

PREPROCESSING = Preprocessing(channels=1, image_size=(8, 8), mean=(0.5,), std=(0.5,)).as_dict()
TORCH_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
WITH_RECIPE = methods_with_recipe()


def built_optimizer(cfg) -> torch.optim.Optimizer:
    """The optimiser the module of ``cfg`` builds (no training)."""
    module = instantiate(
        cfg.model,
        num_classes=10,
        preprocessing=PREPROCESSING,
        method=OmegaConf.to_container(cfg.method, resolve=True),
    )
    optimizers = module.configure_optimizers()
    return optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers


def test_the_known_recipes_are_there():
    assert {"dpsh", "hashnet", "dpn", "orthohash", "idhn", "dbdh", "dshsd", "csq"} <= set(
        WITH_RECIPE
    )


@pytest.mark.parametrize("method", WITH_RECIPE)
def test_each_recipe_builds_the_optimiser_and_settings_its_file_names(method):
    recipe = yaml.safe_load((RECIPES_DIR / f"authors_{method}.yaml").read_text())
    cfg = compose_config("train", f"method={method}", "recipe=authors", "experiment=mnist_small")
    assert cfg.recipe.name == "authors" and cfg.recipe.source == recipe["recipe"]["source"]
    named = recipe["model"]["optimizer"]
    optimizer = built_optimizer(cfg)
    assert type(optimizer) is TORCH_OPTIMIZERS[named["name"]]
    network = next(g for g in optimizer.param_groups if g["name"] == "network")
    assert network["lr"] == pytest.approx(named["lr"])  # the recipe wins over the experiment's
    if "momentum" in named:
        assert network["momentum"] == named["momentum"]
    if "weight_decay" in named:
        assert network["weight_decay"] == named["weight_decay"]
    for key, value in recipe.get("data", {}).items():
        assert cfg.data[key] == value
    for key, value in recipe.get("trainer", {}).items():
        assert cfg.trainer[key] == value
    for key, value in recipe["model"].get("scheduler", {}).items():
        assert cfg.model.scheduler[key] == value


def test_the_shared_recipe_is_the_model_config_unchanged():
    shared = compose_config("train", "method=dpsh")
    explicit = compose_config("train", "method=dpsh", "recipe=shared")
    assert shared.recipe.name == "shared" and shared.model == explicit.model
    assert shared.data == explicit.data and shared.trainer == explicit.trainer
    assert type(built_optimizer(shared)) is torch.optim.SGD


def test_a_method_without_a_recipe_stops_before_training_naming_those_with_one(tmp_path):
    cfg = compose_config("train", "method=lin2015", "recipe=authors", f"output_dir={tmp_path}")
    with pytest.raises(ValueError) as error:
        train(cfg)
    message = str(error.value)
    assert message.startswith("recipe=authors: method 'lin2015' has no authors' recipe")
    assert "conf/recipe_of/authors_lin2015.yaml" in message and "recipe=shared" in message
    assert ", ".join(WITH_RECIPE) in message
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_unknown_optimiser_is_refused_with_the_choices(tmp_path):
    cfg = compose_config("train", "model.optimizer.name=adamw", f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match=r"model.optimizer.name=adamw: must be 'sgd' or 'adam'"):
        train(cfg)


def test_a_run_of_the_authors_recipe_records_it_and_says_so(tmp_path, capsys):
    call_tool(
        "ssdh-train",
        "method=dpsh",
        "recipe=authors",
        *TINY_TRAINING,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "baselines=[]",
        run_dir=tmp_path,
    )
    run = json.loads((tmp_path / RUN_FILE).read_text())
    assert run["method"] == "dpsh" and run["recipe"] == "authors"
    recipe = yaml.safe_load((RECIPES_DIR / "authors_dpsh.yaml").read_text())["recipe"]
    assert run["recipe_source"] == recipe["source"]
    assert "with dpsh (authors), 48 bits" in capsys.readouterr().out
