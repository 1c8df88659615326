"""``ssdh-search index=INDEX query=IMAGE_OR_FOLDER``: compose conf/search.yaml and search."""

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.console import quiet_console
from ssdh_lightning.tasks import search


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search")
def main(cfg: DictConfig) -> None:
    quiet_console()
    search(cfg)


if __name__ == "__main__":
    main()
