"""What the routers are given: the served index, the settings, the checked search options.
They live on ``app.state`` (set by ``create_app``), not in module globals, so every app (and
every test) has its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from ssdh_lightning.serve.schemas import Mode
from ssdh_lightning.serve.served import ServedIndex
from ssdh_lightning.serve.settings import ServeSettings


def get_served(request: Request) -> ServedIndex:
    return request.app.state.served


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


@dataclass(frozen=True)
class SearchOptions:
    k: int
    mode: Mode | None  # None: the endpoint's default


def search_options(
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


def check_item(count: int, item_id: int) -> None:
    if not 0 <= item_id < count:
        raise HTTPException(
            404,
            f"no item {item_id}: the served index holds items 0 to {count - 1} "
            "(ids are rows of the served generation; GET /api/items lists them)",
        )


Served = Annotated[ServedIndex, Depends(get_served)]
Settings = Annotated[ServeSettings, Depends(get_settings)]
Options = Annotated[SearchOptions, Depends(search_options)]
