"""``/api/search``: by an uploaded image, by codes, or by an indexed item; every answer has the
fields of ``ssdh-search output=json``. Endpoints are plain functions, so FastAPI runs them in its
thread pool: searches on the memory-mapped index run side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, File, HTTPException, Response, UploadFile

from ssdh_lightning.indexing.query import ImageSearch, Queries
from ssdh_lightning.indexing.views import json_report
from ssdh_lightning.retrieval.backends import HAMMING_MODES
from ssdh_lightning.retrieval.settings import FEATURE_MODES
from ssdh_lightning.serve.codes import parse_codes
from ssdh_lightning.serve.dependencies import (
    Current,
    Options,
    Served,
    Settings,
    check_files,
    item_row,
)
from ssdh_lightning.serve.schemas import CodesQuery, Mode, SearchAnswer
from ssdh_lightning.serve.served import Generation
from ssdh_lightning.serve.settings import ServeSettings
from ssdh_lightning.serve.uploads import encode_upload

router = APIRouter(prefix="/api/search", tags=["search"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such item"},
    409: {"description": "the index names no model to encode images"},
    413: {"description": "the upload has too many bytes or pixels"},
    415: {"description": "the upload is not an image in a format decoded here"},
    422: {"description": "a bad k, mode or code, or an image that does not decode"},
    503: {"description": "a file of the index was changed in place while served"},
}


def _answer(
    generation: Generation, queries: Queries, k: int, mode: Mode, settings: ServeSettings
) -> Response:
    index = generation.index
    if mode in FEATURE_MODES:
        check_files(index, ["features"])
    started = time.perf_counter()
    result = index.search(
        queries.codes,
        k,
        mode,
        query_features=queries.features if mode in FEATURE_MODES else None,
        hds_threshold=settings.hds_threshold,
        hds_pool_size=settings.hds_pool_size,
        backend=settings.backend if mode in HAMMING_MODES else "engine",
    )
    seconds = time.perf_counter() - started
    found = ImageSearch(queries, result, mode, k, seconds, generation.first_search_seconds)
    # serialised here, not by FastAPI: a SearchAnswer model per request costs more than the search
    return Response(orjson.dumps(json_report(index, found)), media_type="application/json")


@router.post("", response_model=SearchAnswer, responses=ERRORS)
def search_by_image(
    image: Annotated[UploadFile, File(description="the query image")],
    options: Options,
    served: Served,
    generation: Current,
    settings: Settings,
) -> Response:
    """The ``k`` nearest items of an uploaded image, encoded by the index's own model."""
    queries = encode_upload(served, image, settings)
    mode = options.mode or settings.default_mode
    return _answer(generation, queries, options.k, mode, settings)


@router.post("/codes", response_model=SearchAnswer, responses=ERRORS)
def search_by_codes(
    body: CodesQuery, options: Options, generation: Current, settings: Settings
) -> Response:
    """The ``k`` nearest items of each code by Hamming distance (``mode=bcs``, the default)."""
    mode = options.mode or "bcs"
    if mode != "bcs":
        raise HTTPException(
            422,
            f"a search by codes ranks by Hamming distance: mode must be 'bcs', got {mode!r}; "
            "es and hds need the query's features: search by image or by item for them",
        )
    if len(body.codes) > settings.max_queries:
        raise HTTPException(
            422,
            f"{len(body.codes)} codes in one search, more than this server takes "
            f"({settings.max_queries}, settings.max_queries): send them in several searches",
        )
    try:
        codes = parse_codes(body.codes, generation.index.hash_bits)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    count = len(body.codes)
    queries = Queries(
        paths=[Path(f"codes[{a}]") for a in range(count)],
        codes=codes,
        features=np.empty((count, 0), dtype=np.float16),  # BCS reads none
        seconds=0.0,
    )
    return _answer(generation, queries, options.k, mode, settings)


@router.post("/item/{item_id}", response_model=SearchAnswer, responses=ERRORS)
def search_by_item(
    item_id: int, options: Options, generation: Current, settings: Settings
) -> Response:
    """The ``k`` nearest items of an indexed item, by its stored codes and features."""
    index = generation.index
    row = item_row(index, item_id)
    check_files(index, ["codes", "features"])
    rows = slice(row, row + 1)
    queries = Queries(
        paths=[Path(index.paths[row])],
        codes=index.codes[rows],
        features=np.asarray(index.features[rows]),
        seconds=0.0,
    )
    return _answer(generation, queries, options.k, options.mode or settings.default_mode, settings)
