"""``ssdh-index ckpt_path=CKPT images=FOLDER out=INDEX``: compose conf/index.yaml and build."""

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.indexing import commands


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="index")
def main(cfg: DictConfig) -> None:
    commands.index(cfg)


if __name__ == "__main__":
    main()
