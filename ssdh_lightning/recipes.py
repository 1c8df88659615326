"""The training recipes (conf/recipe/): ``shared``, one protocol for every method, and
``authors``, each method's own from conf/recipe_of/authors_<method>.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ssdh_lightning.conf_files import CONF_DIR, read_conf

RECIPES_DIR = CONF_DIR / "recipe_of"
METHODS_DIR = CONF_DIR / "method"
AUTHORS = "authors"
SHARED = "shared"  # the default; a run.json without "recipe" was trained with it


def methods_with_recipe(recipe: str = AUTHORS) -> list[str]:
    """The methods that ``recipe`` has settings for, sorted."""
    prefix = f"{recipe}_"
    return sorted(path.stem.removeprefix(prefix) for path in RECIPES_DIR.glob(f"{prefix}*.yaml"))


def check_recipe(recipe: Mapping | None, method: str) -> None:
    """A run of ``recipe=authors`` needs the method's recipe; say which methods have one."""
    if not recipe or recipe.get("name") != AUTHORS or recipe.get("source"):
        return
    raise ValueError(
        f"recipe=authors: method {method!r} has no authors' recipe (no "
        f"conf/recipe_of/{AUTHORS}_{method}.yaml); those with one: "
        f"{', '.join(methods_with_recipe())}. Train {method} with recipe=shared, or add its "
        "recipe, naming its source"
    )


def recipe_description(recipe: Mapping | None) -> dict[str, str]:
    """What run.json records of the recipe: its name (``recipe``), and where its settings come
    from (``recipe_source``) where it names one."""
    recipe = recipe or {}
    source = recipe.get("source")
    return {"recipe": recipe.get("name") or SHARED} | ({"recipe_source": source} if source else {})


def method_changes(method: Mapping | None, recipe: str = SHARED) -> dict[str, Any]:
    """The options of a run's method config that differ from the method as its recipe composes
    it (the overrides, ``method.pair_weights=balanced``), sorted by name; {} for the method as
    its conf/method/ file sets it, with what ``recipe``'s file for it sets over that (idhn's
    authors' scale). The files are read as data, never resolved."""
    if not method:
        return {}
    defaults = method_defaults(str(method.get("name")), recipe)
    return {
        key: value
        for key, value in sorted(method.items())
        if key != "name" and (key not in defaults or defaults[key] != value)
    }


def method_defaults(method: str, recipe: str = SHARED) -> dict[str, Any]:
    """The options of ``method`` as ``recipe`` trains it: its conf/method/ file, then the
    ``method`` block of conf/recipe_of/<recipe>_<method>.yaml where that sets one."""
    defaults = read_conf(METHODS_DIR / f"{method}.yaml")
    return defaults | (read_conf(RECIPES_DIR / f"{recipe}_{method}.yaml").get("method") or {})


def training_label(method: str, recipe: str = SHARED, changes: Mapping | None = None) -> str:
    """How reports name what trained a run: the method, with its recipe where that is not the
    shared one and the options changed from its file (``dsh (authors)``, ``dpsh
    (pair_weights=balanced)``), so that runs of two recipes or two settings are never pooled."""
    notes = [] if recipe == SHARED else [recipe]
    notes += [f"{key}={_typed(value)}" for key, value in sorted((changes or {}).items())]
    return f"{method} ({', '.join(notes)})" if notes else method


def _typed(value: Any) -> str:
    """A value as a Hydra override types it (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
