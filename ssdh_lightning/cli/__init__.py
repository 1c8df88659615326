"""Thin Hydra entry points."""

from pathlib import Path

# The configs ship inside the package, so a wheel install finds them; the repository's top-level
# conf/ is a link to this folder.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
