"""``ssdh-index ckpt_path=CKPT images=FOLDER out=INDEX``: compose conf/index.yaml and build."""

import sys

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.console import quiet_console
from ssdh_lightning.tasks import index

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="index")
def main(cfg: DictConfig) -> None:
    quiet_console()
    try:
        index(cfg)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)  # index() has said how to resume


if __name__ == "__main__":
    main()
