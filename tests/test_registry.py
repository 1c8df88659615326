"""The one registry pattern: plug-ins join by being defined, are found by name only, and a
config of the conf/ groups exists for every registered method; every hashing baseline is a row of
the runs and of the report."""

from __future__ import annotations

from inspect import signature
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from ssdh_lightning import metric_names
from ssdh_lightning.baselines import (
    BASELINES,
    HASHERS,
    ROWS,
    check_baselines,
    check_objective,
    fitted_hasher,
)
from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.methods import METHODS
from ssdh_lightning.models import BACKBONES
from ssdh_lightning.models.backbones import backbone_label
from ssdh_lightning.registry import Registry
from ssdh_lightning.reporting.tables import FIT_ON, ROW_NAMES
from ssdh_lightning.retrieval import EvaluationSet


def test_a_registry_finds_its_members_by_name_and_lists_them_when_asked_for_another():
    things = Registry("thing", "thing=NAME")

    @things.register("first")
    def first():
        return 1

    @things.register("second")
    class Second:
        pass

    assert list(things) == ["first", "second"] and len(things) == 2
    assert things["first"] is first and things.name_of(Second) == "second"
    assert "first" in things and "third" not in things
    with pytest.raises(ValueError, match=r"unknown thing 'third'; thing=NAME takes one of first, "):
        things["third"]
    with pytest.raises(ValueError, match=r"thing 'first' is registered twice"):
        things.register("first")(first)
    with pytest.raises(KeyError, match=r"not a registered thing"):
        things.name_of(object)


def test_every_registered_method_has_its_config_and_every_config_a_method():
    configs = {path.stem for path in (Path(CONFIG_DIR) / "method").glob("*.yaml")}
    assert configs == set(METHODS)
    for name in METHODS:
        text = (Path(CONFIG_DIR) / "method" / f"{name}.yaml").read_text()
        assert f"\nname: {name}\n" in f"\n{text}", name


def test_backbones_are_the_small_cnn_and_the_torchvision_networks():
    assert list(BACKBONES)[:1] == ["small_cnn"]
    assert {"alexnet", "vgg16", "resnet50"} <= set(BACKBONES)


@pytest.mark.parametrize(
    ("backbone", "label"),
    [
        ({"name": "small_cnn", "widths": [32, 64], "feature_dim": 256}, "small_cnn"),
        (
            {"name": "small_cnn", "widths": [32, 64, 128], "feature_dim": 256},
            "small_cnn widths=[32,64,128]",
        ),
        (
            {"name": "small_cnn", "widths": [32, 64], "feature_dim": 500},
            "small_cnn feature_dim=500",
        ),
        ({"name": "alexnet", "weights": "IMAGENET1K_V1"}, "alexnet"),
        ({"name": "alexnet", "weights": None}, "alexnet weights=null"),
        (
            {"name": "timm", "model": "vit_small_patch16_224", "weights": "pretrained"},
            "timm/vit_small_patch16_224",
        ),
        (
            {"name": "timm", "model": "resnet50", "weights": None, "drop": 0.1},
            "timm/resnet50 drop=0.1 weights=null",
        ),
    ],
)
def test_a_backbone_is_named_with_what_differs_from_its_model_file(backbone, label):
    """Two networks never share a name in run.json, so a report never pools them: the options
    that differ from conf/model/<name>.yaml follow the name, as overrides write them."""
    assert backbone_label(backbone) == label


@pytest.fixture(scope="module")
def digits() -> EvaluationSet:
    features, labels = load_digits(return_X_y=True)
    return EvaluationSet(labels[:300], features=features[:300].astype(np.float32))


@pytest.mark.parametrize("name", list(HASHERS))
def test_every_hashing_baseline_fits_encodes_and_names_its_two_rows(name, digits):
    """Registered where it is defined, a hasher is fit and encodes, and is all the runs and the
    report need to know of its rows: on the fine-tuned features and before fine-tuning."""
    # a small labelled sample where a hasher draws one (the test judges no quality)
    small = {"labelled": 200} if "labelled" in signature(HASHERS[name]).parameters else {}
    hasher = fitted_hasher(name, digits, 16, seed=0, **small)
    codes = hasher.encode(digits.features[:50])
    assert codes.shape == (50, 16) and set(np.unique(codes)) <= {0, 1}
    initial = metric_names.on_initial(name)
    assert check_baselines([name, initial]) == [name, initial]
    assert check_objective(f"{initial}/map@all") == f"{initial}/map@all"
    assert ROW_NAMES[name] == HASHERS[name].title
    assert ROW_NAMES[initial] == f"{HASHERS[name].title} (initial features)"
    assert FIT_ON[name] == HASHERS[name].fit_on.format(features="fine-tuned database features")
    assert "before fine-tuning" in FIT_ON[initial]


def test_the_rows_are_the_modes_then_the_registered_baselines_in_the_papers_order():
    hashers = ["lsh", "itq", "sh", "itq_cca", "ksh", "bre", "mlh", "sdh"]
    assert list(HASHERS) == hashers
    assert (*hashers, *(f"{name}_initial" for name in hashers), "initial") == BASELINES
    assert ("bcs", "es", "hds", *BASELINES) == ROWS
    assert set(ROW_NAMES) == set(ROWS) and set(FIT_ON) == set(BASELINES)
