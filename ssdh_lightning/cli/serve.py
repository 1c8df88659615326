"""``ssdh-serve index=INDEX``: compose conf/serve.yaml and serve the index over HTTP."""

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.console import quiet_console
from ssdh_lightning.tasks.serve import serve


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
def main(cfg: DictConfig) -> None:
    quiet_console()
    serve(cfg)


if __name__ == "__main__":
    main()
