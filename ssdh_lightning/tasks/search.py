"""``search``: the images of a query (a file or a folder) against an index, printed and drawn."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from ssdh_lightning.indexing.query import ImageSearch, search_images
from ssdh_lightning.indexing.views import (
    json_report,
    text_report,
    write_contact_sheet,
    write_html,
)
from ssdh_lightning.retrieval.index import Index
from ssdh_lightning.retrieval.settings import check_hds_pool

OUTPUTS = ("text", "json")


def search(cfg: DictConfig) -> ImageSearch:
    """Search the index ``cfg.index`` with the images ``cfg.query``; print the results as text
    or JSON, and write the HTML page and the contact sheet that are asked for."""
    if cfg.output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {cfg.output!r}")
    check_hds_pool(cfg.hds_threshold, cfg.hds_pool_size)  # before the index is read
    index = Index.load(cfg.index, verify=cfg.verify)
    found = search_images(
        index,
        cfg.query,
        cfg.k,
        cfg.mode,
        ckpt_path=cfg.ckpt_path,
        batch_size=cfg.batch_size,
        hds_threshold=cfg.hds_threshold,
        hds_pool_size=cfg.hds_pool_size,
        backend=cfg.backend,
        nflip=cfg.nflip,
        nprobe=cfg.nprobe,
    )
    if cfg.output == "json":
        print(json.dumps(json_report(index, found), indent=2))
    else:
        print(text_report(index, found))
    images_root = Path(cfg.images or index.manifest["images_root"])
    if cfg.html:
        write_html(cfg.html, index, found, images_root)
    if cfg.sheet:
        write_contact_sheet(cfg.sheet, index, found, images_root)
    return found
