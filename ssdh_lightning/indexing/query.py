"""Searching an index with image files: each query is encoded by the index's own model, prepared
the way that model's checkpoint says (size, channels, normalisation), then ranked by the engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.images.files import IMAGE_EXTENSIONS
from ssdh_lightning.images.folder_scan import scan
from ssdh_lightning.indexing.checkpoint import check_checkpoint
from ssdh_lightning.indexing.encoding import encode_files
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval import PackedCodes, SearchResult
from ssdh_lightning.retrieval.backends import ENGINE, check_backend
from ssdh_lightning.retrieval.index import Index
from ssdh_lightning.retrieval.settings import check_k, check_modes

log = logging.getLogger(__name__)
QueryInput = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class Queries:
    """Encoded query images: ``codes[i]`` and ``features[i]`` are those of ``paths[i]``."""

    paths: list[Path]
    codes: PackedCodes
    features: np.ndarray  # float16, as the index stores its own
    seconds: float  # the time their encoding took


@dataclass(frozen=True)
class ImageSearch:
    """The ``k`` results of every query by ``mode``. ``seconds``: the search alone, after a
    first search of one query that took ``first_seconds`` (it loads the compiled kernels and
    lays the codes out, once per process)."""

    queries: Queries
    result: SearchResult
    mode: str
    k: int
    seconds: float
    first_seconds: float


def query_model(index: Index, ckpt_path: str | Path | None = None) -> SSDHModule:
    """The model that built ``index``: from the checkpoint its manifest names, or from
    ``ckpt_path`` where that checkpoint lies now (checked to be the same model)."""
    path = Path(ckpt_path or index.manifest["model"]["checkpoint"])
    check_checkpoint(index, path)
    return load_module(path)


def query_files(query: QueryInput) -> list[Path]:
    """The image files a query names: a file, a folder (every image under it), or a list."""
    items = [query] if isinstance(query, str | Path) else list(query)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            manifest = scan(item)
            for entry in manifest.skipped:
                log.warning("query %s cannot be looked into (%s): left out", *entry)
            if len(manifest) == 0:
                raise ValueError(
                    f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under the query folder "
                    f"{item}: pass an image file, or a folder that holds images"
                )
            files += [manifest.path(i) for i in range(len(manifest))]
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(
                f"query {item} does not exist; pass an image file or a folder of images"
            )
    if not files:
        raise ValueError("no query given; pass an image file or a folder of images")
    return files


def encode_queries(model: SSDHModule, query: QueryInput, batch_size: int = 64) -> Queries:
    """The codes and features of the query images. A file that is not a readable image is left
    out with a warning; when none is readable, that is an error."""
    paths = query_files(query)
    started = time.perf_counter()
    encoded = encode_files(model, paths, batch_size)
    seconds = time.perf_counter() - started
    if len(encoded.positions) == 0:
        first = encoded.skipped[0]
        raise ValueError(
            f"query {first.path} is not an image that can be read ({first.reason}); pass image "
            f"files ({', '.join(IMAGE_EXTENSIONS)}) or a folder of them"
        )
    for item in encoded.skipped:
        log.warning("query %s is not an image that can be read (%s): left out", *item)
    return Queries(
        paths=[paths[i] for i in encoded.positions],
        codes=PackedCodes(encoded.codes, model.hash_bits),
        features=encoded.features,
        seconds=seconds,
    )


def search_images(
    index: Index,
    query: QueryInput,
    k: int = 10,
    mode: str = "hds",
    *,
    ckpt_path: str | Path | None = None,
    batch_size: int = 64,
    **search_options,
) -> ImageSearch:
    """Encode the query images with the index's model and search the index with them;
    ``search_options`` go to ``Index.search`` (``hds_threshold``, ``hds_pool_size``,
    ``backend``, ``nflip``, ``nprobe``)."""
    # checked before the model is loaded and the queries encoded
    (mode,) = check_modes(mode)
    check_k(k)
    check_backend(search_options.get("backend", ENGINE), mode)
    queries = encode_queries(query_model(index, ckpt_path), query, batch_size)

    def run(rows: slice) -> SearchResult:
        return index.search(
            queries.codes[rows], k, mode, query_features=queries.features[rows], **search_options
        )

    first_seconds, _ = _timed(lambda: run(slice(0, 1)))
    seconds, result = _timed(lambda: run(slice(None)))
    return ImageSearch(queries, result, mode, k, seconds, first_seconds)


def _timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result
