"""Configs read from files the user did not write (a checkpoint's hyper-parameters and its data
config): data, never resolved and never instantiated by Hydra. Every command reads them here.

OmegaConf resolves ``${...}`` interpolations, and its resolvers build configs (``oc.create``,
``oc.decode``: a nested ``_target_`` that ``hydra.utils.instantiate`` then calls) and read the
environment (``oc.env``); ``instantiate`` calls whatever ``_target_`` names. So a config from a
file is refused when any of its strings holds ``${``, its values must be plain (dicts, lists,
strings, numbers, booleans, null), and its data module is built here: the class that the
project's own list maps its ``_target_`` to, called with the settings its signature names.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ssdh_lightning.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    ImageFolderDataModule,
    ListFileDataModule,
    MNISTDataModule,
    RetrievalDataModule,
)

# The data modules that conf/data/*.yaml name: the only targets such a config may name.
DATA_MODULES: dict[str, type[RetrievalDataModule]] = {
    f"ssdh_lightning.data.{cls.__name__}": cls
    for cls in (
        CIFAR10DataModule,
        DigitsDataModule,
        ImageFolderDataModule,
        ListFileDataModule,
        MNISTDataModule,
    )
}
TARGET = "_target_"
INTERPOLATION = "${"
# Settings of the run, given by the tasks, never taken from a file.
RUN_SETTINGS = frozenset({"report_dir"})
# Settings that name a file to write: from a file only as the data module's own choice.
WRITTEN_FILES = {"manifest_cache": ("auto", None)}
MAX_IMAGE_SIDE = 4096  # pixels a side of image_size or resize read from a file
SHOWN_CHARS = 60  # characters of a value from a file that a message shows
DATA_FIX = "pass data=NAME (digits, mnist, cifar10, folder, ...) to choose the data yourself"
_SCALARS = (str, int, float, bool, type(None))


def shown(value: Any) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARS`` characters: a message never prints a long value
    from a file whole."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def check_plain(value: Any, key: str, source: str, fix: str) -> None:
    """Raise unless ``value``, found under ``key`` in the file ``source``, is plain data with no
    interpolation: dicts with string keys, lists, strings without ``${``, numbers, booleans,
    null. Walked without recursion, so a deeply nested file cannot exhaust the stack."""
    pending = [(key, value)]
    while pending:
        name, item = pending.pop()
        if isinstance(item, str) and INTERPOLATION in item:
            raise ValueError(
                f"{source}: {name} holds an interpolation ('${{...}}'): a config read from a "
                "file is data, its interpolations are never resolved (they can call functions "
                f"and read the environment), so it was refused and nothing of it was built; {fix}"
            )
        if isinstance(item, Mapping):
            for child, child_value in item.items():
                if not isinstance(child, str) or INTERPOLATION in child:
                    raise ValueError(
                        f"{source}: {name} has the key {shown(child)}, not a plain name; "
                        f"nothing of it was built; {fix}"
                    )
                pending.append((f"{name}.{child}", child_value))
        elif isinstance(item, list | tuple):
            pending += [(f"{name}[{i}]", child) for i, child in enumerate(item)]
        elif not isinstance(item, _SCALARS):
            raise ValueError(
                f"{source}: {name} is a {type(item).__name__}, not plain data (dicts, lists, "
                f"strings, numbers); nothing of it was built; {fix}"
            )


def _nested_targets(config: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    """(key, value) of every ``_target_`` below the top of ``config``, in key order."""
    found, pending = [], _children(config, key)
    while pending:
        name, item = pending.pop()
        if isinstance(item, Mapping) and TARGET in item:
            found.append((f"{name}.{TARGET}", item[TARGET]))
        pending += _children(item, name)
    return sorted(found, key=lambda pair: pair[0])


def _children(item: Any, name: str) -> list[tuple[str, Any]]:
    if isinstance(item, Mapping):
        return [(f"{name}.{child}", value) for child, value in item.items() if child != TARGET]
    if isinstance(item, list | tuple):
        return [(f"{name}[{i}]", child) for i, child in enumerate(item)]
    return []


def check_image_sizes(config: Mapping[str, Any], key: str, source: str, fix: str) -> None:
    """``image_size`` and ``resize`` of ``config``, where set, at most ``MAX_IMAGE_SIDE`` a side:
    they size every image a batch holds, and a backbone with adaptive pooling (AlexNet, VGG,
    ResNet) has no weight whose shape would bound them."""
    for name in ("image_size", "resize"):
        size = config.get(name)
        if size is None:
            continue
        sides = size if isinstance(size, list | tuple) else [size]
        if not all(type(side) is int and 0 < side <= MAX_IMAGE_SIDE for side in sides):
            raise ValueError(
                f"{source}: {key}.{name} is {shown(size)}; a model's images are at most "
                f"{MAX_IMAGE_SIDE} pixels a side, so nothing was built; {fix}"
            )


def check_data_config(config: Any, key: str, source: str) -> dict[str, Any]:
    """``config``, found under ``key`` in the file ``source``, refused unless it is plain data
    without interpolations that names one of the project's data modules at its top, nothing
    else that could be built, and only settings that module takes."""
    if not isinstance(config, Mapping):
        raise ValueError(f"{source} has no data config ({key} is {shown(config)}); {DATA_FIX}")
    check_plain(config, key, source, DATA_FIX)
    top = f"{key}.{TARGET}"
    if config.get(TARGET) not in DATA_MODULES:
        raise ValueError(
            f"{source}: {top} is {shown(config.get(TARGET))}, not one of the project's data "
            f"modules ({', '.join(sorted(DATA_MODULES))}); it was not built; {DATA_FIX}"
        )
    nested = _nested_targets(config, key)
    if nested:
        name, target = nested[0]
        raise ValueError(
            f"{source}: {name} is {shown(target)}; a data config "
            "read from a file may name a data module at its top only, nothing below it, so it "
            f"was not built; {DATA_FIX}"
        )
    cls = DATA_MODULES[config[TARGET]]
    settings = sorted(settings_of(cls))
    for name, value in config.items():
        if name == TARGET:
            continue
        if name not in settings:
            raise ValueError(
                f"{source}: {key}.{name} is not a setting of {cls.__name__} (it takes "
                f"{', '.join(settings)}); it was not built; {DATA_FIX}"
            )
        if name in WRITTEN_FILES and value not in WRITTEN_FILES[name]:
            allowed = " or ".join(str(choice).lower() for choice in WRITTEN_FILES[name])
            raise ValueError(
                f"{source}: {key}.{name} is {shown(value)}: a file read from elsewhere may not "
                f"choose where files are written ({allowed} only), so it was not built; "
                f"{DATA_FIX}, with data.{name} set as you choose"
            )
    check_image_sizes(config, key, source, DATA_FIX)
    return dict(config)


def settings_of(cls: type) -> set[str]:
    """The keyword settings that ``cls(...)`` takes: its ``__init__``'s named parameters and
    those of the classes its ``**options`` are passed on to, less those of the run."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names - RUN_SETTINGS


def build_data_module(
    config: Any, key: str, source: str, report_dir: str | Path
) -> RetrievalDataModule:
    """The data module that ``config`` (under ``key`` in the file ``source``) describes, checked
    by ``check_data_config`` and built directly: its class from ``DATA_MODULES`` called with its
    plain values. A value the module refuses is named with the file it came from."""
    checked = check_data_config(config, key, source)
    cls = DATA_MODULES[checked.pop(TARGET)]
    try:
        return cls(**checked, report_dir=str(report_dir))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{source}: {key} cannot build {cls.__name__}: {error}; {DATA_FIX}"
        ) from None
