"""Training methods: lin2015 (the paper), ssdh (TPAMI 2017) and the field's comparison methods;
each owns its loss, its code rule and its state (``base.HashingMethod``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ssdh_lightning.methods.base import HashingMethod, MethodLoss, is_multi_label
from ssdh_lightning.methods.csq import CSQ
from ssdh_lightning.methods.dpsh import DPSH
from ssdh_lightning.methods.greedyhash import GreedyHash
from ssdh_lightning.methods.hashnet import HashNet
from ssdh_lightning.methods.lin2015 import Lin2015
from ssdh_lightning.methods.ssdh import SSDH

TARGET = "_target_"
# What conf/method/*.yaml may name as _target_, and so all that a config, a checkpoint included,
# can build: a method config is data, never a way to call something else.
METHODS: dict[str, type[HashingMethod]] = {
    f"ssdh_lightning.methods.{cls.__name__}": cls
    for cls in (Lin2015, SSDH, DPSH, HashNet, CSQ, GreedyHash)
}
DEFAULT_METHOD = {TARGET: "ssdh_lightning.methods.Lin2015"}


def build_method(config: Mapping[str, Any] | None, hash_bits: int, num_classes: int):
    """The method that ``config`` (a conf/method/ file as a dict; None: lin2015) names."""
    options = dict(config or DEFAULT_METHOD)
    target = options.pop(TARGET, None)
    if target not in METHODS:
        names = ", ".join(cls.name for cls in METHODS.values())
        raise ValueError(
            f"method {TARGET}={target!r} is not one of the project's methods; choose "
            f"method=NAME with NAME one of {names} (ssdh_lightning/conf/method/)"
        )
    cls = METHODS[target]
    try:
        return cls(hash_bits=hash_bits, num_classes=num_classes, **options)
    except TypeError as error:  # an option the method does not have
        raise ValueError(f"method={cls.name}: {error}; see conf/method/{cls.name}.yaml") from None


__all__ = [
    "CSQ",
    "DPSH",
    "METHODS",
    "SSDH",
    "GreedyHash",
    "HashNet",
    "HashingMethod",
    "Lin2015",
    "MethodLoss",
    "build_method",
    "is_multi_label",
]
