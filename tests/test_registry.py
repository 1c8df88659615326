"""The one registry pattern: plug-ins join by being defined, are found by name only, and a
config of the conf/ groups exists for every registered method."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.methods import METHODS
from ssdh_lightning.models import BACKBONES
from ssdh_lightning.registry import Registry


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
