"""``serve``: the task behind ``ssdh-serve``, a plain function over a composed config."""

from __future__ import annotations

import logging

import uvicorn
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssdh_lightning.retrieval.kernels.threads import check_thread_safe_layer
from ssdh_lightning.serve.app import create_app
from ssdh_lightning.serve.served import ServedIndex

log = logging.getLogger(__name__)


def _check_address(host: str, port: int) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be an address such as 127.0.0.1, got {host!r}")
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")


def serve(cfg: DictConfig) -> None:
    """Serve the index ``cfg.index`` at http://``cfg.host``:``cfg.port`` until interrupted."""
    _check_address(cfg.host, cfg.port)
    settings = instantiate(cfg.settings)
    check_thread_safe_layer()  # searches run on many threads at once
    served = ServedIndex.open(cfg.index, ckpt_path=cfg.ckpt_path, images=cfg.images)
    index = served.current.index
    log.info(
        "serving %r (generation %d) at http://%s:%d (API documented at /docs)",
        index,
        index.generation,
        cfg.host,
        cfg.port,
    )
    # log_config=None: uvicorn logs through the handlers Hydra set up (console and run folder).
    # uvicorn picks httptools and uvloop (the serve extra's uvicorn[standard]) when installed:
    # a fifth less CPU a request than its pure-Python parser and asyncio's loop
    uvicorn.run(
        create_app(served, settings),
        host=cfg.host,
        port=cfg.port,
        log_config=None,
        access_log=cfg.access_log,
    )
