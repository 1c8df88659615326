"""Training methods: lin2015 (the paper), ssdh (TPAMI 2017) and the field's comparison methods;
each owns its loss, its code rule and its state (``base.HashingMethod``), and joins ``METHODS``
where it is defined. Importing this package registers every one of them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ssdh_lightning.methods.base import (
    METHODS,
    HashingMethod,
    LatentBatch,
    MethodLoss,
    is_multi_label,
    multi_label_methods,
    unsupervised_methods,
)

# The order of registration is the order methods are listed in: the paper's, its authors' next,
# then the field's, by year.
# isort: off
from ssdh_lightning.methods.lin2015 import Lin2015
from ssdh_lightning.methods.ssdh import SSDH
from ssdh_lightning.methods.dhn import DHN
from ssdh_lightning.methods.dsh import DSH
from ssdh_lightning.methods.dpsh import DPSH
from ssdh_lightning.methods.dtsh import DTSH
from ssdh_lightning.methods.lcdsh import LCDSH
from ssdh_lightning.methods.hashnet import HashNet
from ssdh_lightning.methods.dsdh import DSDH
from ssdh_lightning.methods.adsh import ADSH
from ssdh_lightning.methods.dch import DCH
from ssdh_lightning.methods.greedyhash import GreedyHash
from ssdh_lightning.methods.greedyhash_u import GreedyHashUnsupervised
from ssdh_lightning.methods.idhn import IDHN
from ssdh_lightning.methods.dshsd import DSHSD
from ssdh_lightning.methods.dfh import DFH
from ssdh_lightning.methods.csq import CSQ
from ssdh_lightning.methods.dpn import DPN
from ssdh_lightning.methods.dbdh import DBDH
from ssdh_lightning.methods.bihalf import BiHalf
from ssdh_lightning.methods.orthohash import OrthoHash
# isort: on

NAME = "name"
DEFAULT_METHOD = "lin2015"
# Checkpoints written before the registry named a method by its class's path.
_LEGACY_TARGET = "_target_"
_LEGACY_PREFIX = "ssdh_lightning.methods."


def _registered_name(options: dict[str, Any]) -> str:
    """The method's name in ``options`` (``name``; in checkpoints written before the registry,
    ``_target_``: ``ssdh_lightning.methods.<Class>``, mapped through the registry), removed
    from them."""
    name = options.pop(NAME, None)
    target = options.pop(_LEGACY_TARGET, None)
    if target is not None:
        by_path = {f"{_LEGACY_PREFIX}{cls.__name__}": method for method, cls in METHODS.items()}
        name = by_path.get(target, target)  # a path of anything else is refused by name
    return DEFAULT_METHOD if name is None else name


def named_options(config: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The method that ``config`` names (None: lin2015) and its options, the rest of it."""
    options = dict(config or {})
    return _registered_name(options), options


def build_method(
    config: Mapping[str, Any] | None,
    hash_bits: int,
    num_classes: int,
    train_size: int | None = None,
):
    """The method that ``config`` (a conf/method/ file as a dict; None: lin2015) names, built
    with that file's options: only a registered method can be named. ``train_size`` (the number
    of training items) goes to the methods whose constructor takes it: those that keep a row
    per training item."""
    name, options = named_options(config)
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(
            f"method {name!r} is not one of the project's methods; choose method=NAME with NAME "
            f"one of {', '.join(METHODS)} (ssdh_lightning/conf/method/)"
        )
    cls = METHODS[name]
    if "train_size" in inspect.signature(cls).parameters:
        options["train_size"] = train_size
    try:
        return cls(hash_bits=hash_bits, num_classes=num_classes, **options)
    except TypeError as error:  # an option the method does not have
        raise ValueError(f"method={name}: {error}; see conf/method/{name}.yaml") from None


__all__ = [
    "ADSH",
    "CSQ",
    "DBDH",
    "DCH",
    "DFH",
    "DHN",
    "DPN",
    "DPSH",
    "DSDH",
    "DSH",
    "DSHSD",
    "DTSH",
    "IDHN",
    "LCDSH",
    "METHODS",
    "SSDH",
    "BiHalf",
    "GreedyHash",
    "GreedyHashUnsupervised",
    "HashNet",
    "HashingMethod",
    "LatentBatch",
    "Lin2015",
    "MethodLoss",
    "OrthoHash",
    "build_method",
    "is_multi_label",
    "multi_label_methods",
    "unsupervised_methods",
]
