"""``index``: build or update the index of an image folder with a trained model."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ssdh_lightning.indexing.build import build_index
from ssdh_lightning.indexing.shards import work_root
from ssdh_lightning.retrieval.index import Index


def index(cfg: DictConfig) -> Index | None:
    """Build or update the index ``cfg.out`` of the folder ``cfg.images`` (or of the images of
    its list file ``cfg.list_file``). Interrupted
    (Ctrl-C), it says how to resume before the interruption goes on."""
    try:
        built = build_index(
            cfg.ckpt_path,
            cfg.images,
            cfg.out,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            trainer_options=OmegaConf.to_container(cfg.trainer, resolve=True),
            report_dir=cfg.output_dir,
            list_file=cfg.list_file,
        )
    except KeyboardInterrupt:
        print(
            f"\nssdh-index was interrupted before it finished the index {cfg.out}. What was "
            f"encoded is kept in {work_root(Path(cfg.out))}: run the same command again to "
            "resume from there",
            file=sys.stderr,
        )
        raise
    if built is not None:
        kind = "multi-hot labels" if built.label_kind == "multi_hot" else "class ids"
        print(
            f"{built!r}: {len(built.class_names)} classes ({kind}), generation {built.generation}"
        )
    return built
