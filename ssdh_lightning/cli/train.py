"""``ssdh-train`` / ``python -m ssdh_lightning.train``: compose conf/train.yaml and train."""

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.console import quiet_console
from ssdh_lightning.tasks import objective, train


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    """Train; return the configured objective, which Hydra's sweepers optimise."""
    quiet_console()
    return objective(cfg, train(cfg))


if __name__ == "__main__":
    main()
