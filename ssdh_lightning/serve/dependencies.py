"""What the routers are given: the served index and its current generation, the settings, the
checked search options, the threads that read image files. They live on ``app.state`` (set by
``create_app``), not in module globals, so every app (and every test) has its own. They are
coroutines: FastAPI runs a plain function dependency in its thread pool, a hand-over that costs
more than the dependency itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Query, Request

from ssdh_lightning.retrieval import Index
from ssdh_lightning.retrieval.index import ChangedFile
from ssdh_lightning.serve.schemas import Mode
from ssdh_lightning.serve.served import Generation, ServedIndex
from ssdh_lightning.serve.settings import ServeSettings

# the arrays read to describe any item (its id, path and label)
ITEM_ARRAYS = ("ids", "paths_buffer", "paths_offsets", "labels")


async def get_served(request: Request) -> ServedIndex:
    return request.app.state.served


async def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


async def get_file_readers(request: Request) -> CapacityLimiter:
    return request.app.state.file_readers


def check_files(index: Index, names: Iterable[str]) -> None:
    """503 naming the file when one of the arrays ``names`` was changed in place under its
    memory map: reading it would kill the server (SIGBUS); what does not need it goes on."""
    try:
        index.check_files(names)
    except ChangedFile as error:
        raise HTTPException(503, str(error)) from None


async def get_generation(served: Annotated[ServedIndex, Depends(get_served)]) -> Generation:
    """The served generation, the files that describe its items checked (``check_files``)."""
    generation = served.current
    check_files(generation.index, ITEM_ARRAYS)
    return generation


@dataclass(frozen=True)
class SearchOptions:
    k: int
    mode: Mode | None  # None: the endpoint's default


async def search_options(
    settings: Annotated[ServeSettings, Depends(get_settings)],
    k: Annotated[int | None, Query(ge=1, description="results a query; default: settings")] = None,
    mode: Annotated[Mode | None, Query(description="bcs, es or hds (PROTOCOL.md)")] = None,
) -> SearchOptions:
    k = settings.default_k if k is None else k
    if k > settings.max_k:
        raise HTTPException(
            422,
            f"k must be an integer from 1 to {settings.max_k} (this server's settings.max_k), "
            f"got {k}",
        )
    return SearchOptions(k, mode)


def item_row(index: Index, item_id: int) -> int:
    """The row of the item ``item_id`` in the served generation; 404 when none has it."""
    row = index.row_of(item_id)
    if row is None:
        raise HTTPException(
            404,
            f"no item {item_id} in the served index ({len(index)} items): an id names one "
            "indexed file while it is unchanged, and the id of a file removed or changed since "
            "is not given again; GET /api/items lists the items and their ids",
        )
    return row


Served = Annotated[ServedIndex, Depends(get_served)]
Current = Annotated[Generation, Depends(get_generation)]
Settings = Annotated[ServeSettings, Depends(get_settings)]
Options = Annotated[SearchOptions, Depends(search_options)]
FileReaders = Annotated[CapacityLimiter, Depends(get_file_readers)]
