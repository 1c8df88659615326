"""``index``: build or update the index of an image folder with a trained model."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ssdh_lightning.config_checks import check_index_config, check_writable
from ssdh_lightning.indexing.build import build_index
from ssdh_lightning.indexing.shards import work_root
from ssdh_lightning.retrieval.backends import BUILT_BY_INDEX
from ssdh_lightning.retrieval.backends.faiss_binary import build_faiss_backend
from ssdh_lightning.retrieval.index import Index


def index(cfg: DictConfig) -> Index | None:
    """Build or update the index ``cfg.out`` of the folder ``cfg.images`` (or of the images of
    its list file ``cfg.list_file``), and the FAISS backends ``cfg.backends`` beside it.
    Interrupted (Ctrl-C), it says how to resume before the interruption goes on."""
    check_index_config(cfg)
    backends = list(cfg.get("backends") or [])
    unknown = [name for name in backends if name not in BUILT_BY_INDEX]
    if unknown:  # before the images are encoded
        raise ValueError(f"backends lists {unknown}; the backends to build are {BUILT_BY_INDEX}")
    # the index, and its .work folder beside it, before any image is read
    out, fix = Path(cfg.out), "set out=FOLDER to a folder you can write"
    check_writable(out.parent, "the folder that holds the index and its .work folder", fix)
    if out.exists():
        check_writable(out, "the index folder", fix)
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
        for name in backends:
            if name == "milvus":
                from ssdh_lightning.retrieval.backends.milvus import export_to_milvus

                settings = instantiate(cfg.milvus)
                export_to_milvus(built, settings)
                print(f"backend milvus: collections {settings.collection}_codes and _features")
            else:
                path = build_faiss_backend(built, name, instantiate(cfg[name]))
                print(f"backend {name}: {path}")
    return built
