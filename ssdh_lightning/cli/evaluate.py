"""``ssdh-eval ckpt_path=PATH``: compose conf/eval.yaml and score a checkpoint."""

import hydra
from omegaconf import DictConfig

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.cli.console import quiet_console
from ssdh_lightning.tasks import evaluate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    quiet_console()
    evaluate(cfg)


if __name__ == "__main__":
    main()
