"""recipe=shared|authors: each authors' recipe composes and builds the optimiser, rates, batch
and epochs its file names; a method without one stops before training, naming those with one."""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import TINY_TRAINING, call_tool, compose_config
from ssdh_lightning.data import DigitsDataModule
from ssdh_lightning.preprocessing import Preprocessing
from ssdh_lightning.recipes import (
    METHODS_DIR,
    RECIPES_DIR,
    method_changes,
    methods_with_recipe,
    training_label,
)
from ssdh_lightning.run_files import RUN_FILE
from ssdh_lightning.tasks import train

PREPROCESSING = Preprocessing(channels=1, image_size=(8, 8), mean=(0.5,), std=(0.5,)).as_dict()
TORCH_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
WITH_RECIPE = methods_with_recipe()
# Every method: each file names the authors' code it was read from (docs/methods.md, "Authors'
# recipes"); the three without the authors' code use DeepHash-pytorch's, the only public code.
KNOWN_RECIPES = (
    *("lin2015", "ssdh", "dhn", "dsh", "dpsh", "dtsh", "lcdsh", "hashnet", "dsdh", "adsh", "dch"),
    *("greedyhash", "greedyhash_u", "idhn", "dshsd", "dfh", "csq", "dpn", "dbdh", "bihalf"),
    "orthohash",
)


def module_of(cfg):
    """The module of ``cfg`` (no training)."""
    return instantiate(
        cfg.model,
        num_classes=10,
        preprocessing=PREPROCESSING,
        method=OmegaConf.to_container(cfg.method, resolve=True),
        train_size=100,  # for the methods that keep a row per training item
    )


def built_optimizer(cfg) -> torch.optim.Optimizer:
    """The optimiser the module of ``cfg`` builds."""
    optimizers = module_of(cfg).configure_optimizers()
    return optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers


def test_every_method_has_its_recipe():
    assert methods_with_recipe() == sorted(KNOWN_RECIPES)  # a deleted file fails here


@pytest.mark.parametrize("method", WITH_RECIPE)
def test_each_recipe_names_every_setting_so_that_none_comes_from_the_experiment(method):
    recipe = yaml.safe_load((RECIPES_DIR / f"authors_{method}.yaml").read_text())
    optimizer = recipe["model"]["optimizer"]
    named = {"name", "lr", "weight_decay", "classifier_lr_mult", "latent_lr_mult", "bias_lr_mult"}
    named |= {"bias_decay_mult"} | ({"momentum"} if optimizer["name"] != "adam" else set())
    assert set(optimizer) == named | ({"nesterov"} if optimizer["name"] == "sgd" else set())
    assert {"step_size", "milestones"} <= set(recipe["model"]["scheduler"])
    assert set(recipe["data"]) == {"batch_size", "drop_last"}
    assert set(recipe["trainer"]) == {"max_epochs", "max_steps", "gradient_clip_val"}
    assert recipe["recipe"]["source"]


@pytest.mark.parametrize("method", WITH_RECIPE)
def test_each_recipe_builds_the_optimiser_and_settings_its_file_names(method):
    recipe = yaml.safe_load((RECIPES_DIR / f"authors_{method}.yaml").read_text())
    cfg = compose_config("train", f"method={method}", "recipe=authors", "experiment=mnist_small")
    assert cfg.recipe.name == "authors" and cfg.recipe.source == recipe["recipe"]["source"]
    named = recipe["model"]["optimizer"]
    built = module_of(cfg).configure_optimizers()
    optimizer = built["optimizer"] if isinstance(built, dict) else built
    assert type(optimizer) is TORCH_OPTIMIZERS[named["name"]]
    for group in optimizer.param_groups:  # the recipe's rates win over the experiment's
        layer, bias = group["name"].removesuffix("_bias"), group["name"].endswith("_bias")
        multiplier = {"network": 1.0, "latent": named["latent_lr_mult"]}.get(
            layer, named["classifier_lr_mult"]
        ) * (named["bias_lr_mult"] if bias else 1.0)
        assert group["lr"] == pytest.approx(named["lr"] * multiplier)
        decay = named["weight_decay"] * (named["bias_decay_mult"] if bias else 1.0)
        assert group["weight_decay"] == pytest.approx(decay)
        assert group.get("momentum", 0.0) == named.get("momentum", 0.0)  # Adam has none
        assert group.get("nesterov", False) == named.get("nesterov", False)  # SGD's alone
    # what the file sets wins over every experiment's (cifar10_alexnet sets 50,000 steps and a
    # drop every 25,000, fashion_mnist clips gradients, fashion_mnist_full drops after 7 epochs)
    for experiment in ("mnist_small", "cifar10_alexnet", "fashion_mnist", "fashion_mnist_full"):
        composed = compose_config(
            "train", f"method={method}", "recipe=authors", f"experiment={experiment}"
        )
        for key, value in recipe["data"].items():
            assert composed.data[key] == value
        for key, value in recipe["trainer"].items():
            assert composed.trainer[key] == value
        for key, value in recipe["model"]["scheduler"].items():
            assert composed.model.scheduler[key] == value
    schedule = recipe["model"]["scheduler"]
    if schedule["step_size"] is None and schedule["milestones"] is None:
        assert isinstance(built, torch.optim.Optimizer)  # no schedule
    else:
        scheduler = built["lr_scheduler"]
        assert scheduler["interval"] == schedule["interval"]
        assert scheduler["scheduler"].gamma == pytest.approx(schedule["gamma"])
        if schedule["milestones"] is None:
            assert scheduler["scheduler"].step_size == schedule["step_size"]
        else:  # DSH's two drops
            assert sorted(scheduler["scheduler"].milestones) == schedule["milestones"]


def test_drop_last_leaves_out_the_last_incomplete_training_batch_only():
    """data.drop_last (DPN's loader): training batches all full, evaluation sees every item; a
    batch larger than the training set is refused, as is a value other than true or false."""
    kept = DigitsDataModule(batch_size=100)
    dropped = DigitsDataModule(batch_size=100, drop_last=True)
    for module in (kept, dropped):
        module.setup("fit")
    train_size = len(kept.splits.train)
    assert train_size % 100  # the last batch is incomplete
    sizes = [len(batch[0]) for batch in dropped.train_dataloader()]
    assert sizes == [100] * (train_size // 100)
    assert sum(len(batch[0]) for batch in kept.train_dataloader()) == train_size
    evaluated = [sum(len(b[0]) for b in loader) for loader in dropped.val_dataloader()]
    assert evaluated == [len(kept.splits.query), len(kept.splits.database)]  # nothing left out
    too_large = DigitsDataModule(batch_size=train_size + 1, drop_last=True)
    too_large.setup("fit")
    with pytest.raises(
        ValueError, match=rf"data.drop_last=true with data.batch_size={train_size + 1} "
    ):
        too_large.train_dataloader()
    with pytest.raises(
        ValueError, match=re.escape("data.drop_last must be true or false, got 'yes'; e.g.")
    ):
        DigitsDataModule(drop_last="yes")


def test_the_shared_recipe_is_the_model_config_unchanged():
    shared = compose_config("train", "method=dpsh")
    explicit = compose_config("train", "method=dpsh", "recipe=shared")
    assert shared.recipe.name == "shared" and shared.model == explicit.model
    assert shared.data == explicit.data and shared.trainer == explicit.trainer
    assert type(built_optimizer(shared)) is torch.optim.SGD


def test_a_method_without_a_recipe_stops_before_training_naming_those_with_one(tmp_path):
    # what a method without conf/recipe_of/authors_<method>.yaml composes to: no source
    cfg = compose_config(
        "train", "method=lin2015", "recipe=authors", "recipe.source=null", f"output_dir={tmp_path}"
    )
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


def test_a_run_records_its_recipe_and_changed_method_options_and_says_so(tmp_path, capsys):
    call_tool(
        "ssdh-train",
        "method=dpsh",
        "recipe=authors",
        "method.pair_weights=balanced",
        "model.freeze_backbone=true",  # not dpsh's own setting: named beside its options
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
    assert run["method_changes"] == {"freeze_backbone": True, "pair_weights": "balanced"}
    # every option it trained with, the authors' eta and the override alike
    assert run["method_options"] == {"eta": 0.01, "pairs": "batch", "pair_weights": "balanced"}
    label = "dpsh (authors, freeze_backbone=true, pair_weights=balanced)"
    assert f"with {label}, 48 bits" in capsys.readouterr().out


def test_latent_lr_mult_gives_the_hash_layer_its_own_rate_and_at_1x_the_groups_of_before():
    def groups(*overrides):
        cfg = compose_config("train", "experiment=mnist_small", *overrides)
        module = module_of(cfg)
        latent = {id(p) for p in module.head.latent.parameters()}
        return {
            g["name"]: (g["lr"], sum(id(p) in latent for p in g["params"]))
            for g in module.configure_optimizers().param_groups
        }

    # at 1x the latent layer learns with the network, in the four groups checkpoints hold
    assert groups() == {
        "network": (0.01, 1),
        "network_bias": (0.02, 1),
        "classifier": (0.1, 0),
        "classifier_bias": (0.2, 0),
    }
    faster = groups("model.optimizer.latent_lr_mult=100")
    assert faster["latent"] == (pytest.approx(1.0), 1)
    assert faster["latent_bias"] == (pytest.approx(2.0), 1)
    assert faster["network"] == (0.01, 0) and faster["classifier"] == (0.1, 0)


@pytest.mark.parametrize("recipe", ["shared", "authors"])
@pytest.mark.parametrize("method", sorted(path.stem for path in METHODS_DIR.glob("*.yaml")))
def test_every_method_as_its_recipe_composes_it_changes_nothing(method, recipe):
    cfg = compose_config("train", f"method={method}", f"recipe={recipe}")
    assert method_changes(OmegaConf.to_container(cfg.method), recipe) == {}
    changed = compose_config("train", f"method={method}", f"recipe={recipe}", "+method.extra=1")
    assert method_changes(OmegaConf.to_container(changed.method), recipe) == {"extra": 1}


@pytest.mark.parametrize(
    ("method", "option", "shared_value", "authors_value", "override"),
    [
        # idhn's scale: 24 under the shared SGD, the authors' 5 with their recipe (their Adam)
        ("idhn", "scale", 24.0, 5.0, 7),
        # lcdsh's pairs: balanced under the shared recipe, the authors' mean over pairs with theirs
        ("lcdsh", "pair_weights", "balanced", "uniform", "balanced"),
    ],
)
def test_a_recipe_sets_its_authors_option_over_the_method_file_and_records_no_change(
    method, option, shared_value, authors_value, override
):
    """The value of one recipe is a change under the other, and an override wins over both."""
    shared = compose_config("train", f"method={method}")
    authors = compose_config(
        "train", f"method={method}", "recipe=authors", "experiment=fashion_mnist"
    )
    assert shared.method[option] == shared_value and authors.method[option] == authors_value
    shared_options = OmegaConf.to_container(shared.method)
    authors_options = OmegaConf.to_container(authors.method)
    assert method_changes(shared_options, "authors") == {option: shared_value}
    assert method_changes(authors_options, "shared") == {option: authors_value}
    overridden = compose_config(
        "train", f"method={method}", "recipe=authors", f"method.{option}={override}"
    )
    assert method_changes(OmegaConf.to_container(overridden.method), "authors") == {
        option: override
    }


def test_a_training_is_named_by_its_method_recipe_and_changes():
    assert training_label("dsh") == "dsh"
    assert training_label("dsh", "authors") == "dsh (authors)"
    assert training_label("bihalf", "shared", {"freeze_backbone": False}) == (
        "bihalf (freeze_backbone=false)"  # as the override is typed
    )
    changes = {"pair_weights": "balanced", "eta": 0.1}  # named in sorted order
    assert training_label("dpsh", "shared", changes) == "dpsh (eta=0.1, pair_weights=balanced)"
    assert (
        training_label("dpsh", "authors", changes)
        == "dpsh (authors, eta=0.1, pair_weights=balanced)"
    )
