"""Configs read from files the user did not write (a checkpoint's data config): checked before
anything of them is built, since ``hydra.utils.instantiate`` calls whatever ``_target_`` names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# The data modules that conf/data/*.yaml name: the only targets such a config may name.
DATA_MODULES = frozenset(
    f"ssdh_lightning.data.{name}"
    for name in (
        "CIFAR10DataModule",
        "DigitsDataModule",
        "ImageFolderDataModule",
        "ListFileDataModule",
        "MNISTDataModule",
    )
)
TARGET = "_target_"


def _targets(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """(key, value) of every ``_target_`` in ``value``, at any depth of dicts and lists."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            if name == TARGET:
                yield f"{key}.{TARGET}", item
            else:
                yield from _targets(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            yield from _targets(item, f"{key}[{position}]")


def check_data_config(config: Any, key: str, source: str) -> dict[str, Any]:
    """``config``, found under ``key`` in the file ``source``, refused unless it names one of
    the project's data modules at its top and nothing else that could be built."""
    fix = "pass data=NAME (digits, mnist, cifar10, folder, ...) to choose the data yourself"
    if not isinstance(config, Mapping):
        raise ValueError(f"{source} has no data config ({key} is {config!r}); {fix}")
    top = f"{key}.{TARGET}"
    if config.get(TARGET) not in DATA_MODULES:
        raise ValueError(
            f"{source}: {top} is {config.get(TARGET)!r}, not one of the project's data modules "
            f"({', '.join(sorted(DATA_MODULES))}); it was not built. {fix}"
        )
    for name, target in _targets(config, key):
        if name != top:
            raise ValueError(
                f"{source}: {name} is {target!r}; a data config read from a file may name a "
                f"data module at its top only, nothing below it, so it was not built. {fix}"
            )
    return dict(config)
