"""``ssdh-index ckpt_path=CKPT images=FOLDER out=INDEX``: compose conf/index.yaml and build."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.indexing import commands
from ssdh_lightning.indexing.shards import work_root

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="index")
def main(cfg: DictConfig) -> None:
    try:
        commands.index(cfg)
    except KeyboardInterrupt:
        print(
            f"\nssdh-index was interrupted before it finished the index {cfg.out}. What was "
            f"encoded is kept in {work_root(Path(cfg.out))}: run the same command again to "
            "resume from there",
            file=sys.stderr,
        )
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
