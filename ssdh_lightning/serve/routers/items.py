"""``/api/items``: the indexed items' metadata and thumbnails, reached by id only. A file is
read only through ``resolve_under``, so no request and no manifest path reaches outside the
images folder; it is read and decoded in a thread of its own, within ``settings.read_timeout_s``,
so a slow or hung disk holds no other request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Response

from ssdh_lightning.images.thumbnails import png_bytes, thumbnail
from ssdh_lightning.indexing.answer import label_fields
from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.retrieval import Index
from ssdh_lightning.serve.dependencies import Current, FileReaders, Served, Settings, item_position
from ssdh_lightning.serve.schemas import Item, Items

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/items", tags=["items"])


def _item(index: Index, position: int) -> Item:
    item_id = int(index.ids[position])
    return Item(
        id=item_id,
        path=index.paths[position],
        **label_fields(index, position),
        thumbnail=f"/api/items/{item_id}/thumbnail",
    )


@router.get("", response_model=Items, response_model_exclude_unset=True)
def list_items(
    generation: Current,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 48,
) -> Items:
    """Items ``offset`` to ``offset + limit - 1`` of the served generation, in its order."""
    index = generation.index
    positions = range(offset, min(offset + limit, len(index)))
    return Items(count=len(index), offset=offset, items=[_item(index, p) for p in positions])


@router.get(
    "/{item_id}",
    response_model=Item,
    response_model_exclude_unset=True,  # labels and class_names only for a multi-hot index
    responses={404: {"description": "no such item"}},
)
def get_item(item_id: int, generation: Current) -> Item:
    index = generation.index
    return _item(index, item_position(index, item_id))


@router.get(
    "/{item_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "a PNG (grey if unreadable)"},
        404: {"description": "no such item, or its path lies outside the images folder"},
        503: {"description": "its file took longer than settings.read_timeout_s to read"},
    },
)
async def get_thumbnail(
    item_id: int,
    served: Served,
    generation: Current,
    settings: Settings,
    file_readers: FileReaders,
) -> Response:
    index = generation.index
    position = item_position(index, item_id)
    if served.images_root is None:
        raise HTTPException(
            404,
            f"the index at {served.folder} names no images folder: start ssdh-serve with "
            "images=FOLDER to show its images",
        )
    try:
        with anyio.fail_after(settings.read_timeout_s):
            png = await anyio.to_thread.run_sync(
                _thumbnail_png,
                item_id,
                served.images_root,
                index.paths[position],
                abandon_on_cancel=True,
                limiter=file_readers,
            )
    except TimeoutError:
        raise HTTPException(
            503,
            f"the file of item {item_id} took longer than {settings.read_timeout_s} s to read "
            "(settings.read_timeout_s): the disk that holds the images may be slow or hung; "
            "try again later",
        ) from None
    return Response(png, media_type="image/png")


def _thumbnail_png(item_id: int, images_root: Path, relative: str) -> bytes:
    # resolving follows links on the disk too, so it is timed with the read
    try:
        path = resolve_under(images_root, relative)
    except ValueError as error:
        log.warning("item %d's thumbnail refused: %s", item_id, error)  # the paths, for the owner
        raise HTTPException(
            404,
            f"item {item_id}'s file is outside its images folder (or its path is not a plain "
            "relative one), so it is not served; the server's log says which",
        ) from None
    return png_bytes(thumbnail(path))
