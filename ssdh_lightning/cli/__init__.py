"""Thin Hydra entry points."""

from ssdh_lightning.conf_files import CONF_DIR

# Hydra's config_path: the configs ship inside the package (conf_files.CONF_DIR)
CONFIG_DIR = str(CONF_DIR)
