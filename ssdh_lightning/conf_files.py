"""The project's own config files (``ssdh_lightning/conf``) read as plain data: the defaults a
run's settings are measured against, to say what it changed. Never resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# The configs ship inside the package, so a wheel install finds them; the repository's top-level
# conf/ is a link to this folder.
CONF_DIR = Path(__file__).resolve().parent / "conf"


def read_conf(path: Path) -> dict[str, Any]:
    """A YAML file of the project as plain data ({} where there is none), never resolved."""
    return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else {}


def names_in(group: str) -> set[str]:
    """The choices of a config group: the names of conf/<group>/*.yaml (``method``: dsh, ...)."""
    return {path.stem for path in (CONF_DIR / group).glob("*.yaml")}
