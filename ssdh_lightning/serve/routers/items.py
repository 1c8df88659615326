"""``/api/items``: the indexed items' metadata and thumbnails, reached by id only. A file is
read only through ``resolve_under``, so no request and no manifest path reaches outside the
images folder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.indexing.views import _png, _thumbnail
from ssdh_lightning.retrieval import Index
from ssdh_lightning.serve.dependencies import Served, item_row
from ssdh_lightning.serve.schemas import Item, Items

router = APIRouter(prefix="/api/items", tags=["items"])


def _item(index: Index, row: int) -> Item:
    label = int(index.labels[row])
    names = index.class_names
    item_id = int(index.ids[row])
    return Item(
        id=item_id,
        path=index.paths[row],
        label=label,
        class_name=names[label] if 0 <= label < len(names) else None,
        thumbnail=f"/api/items/{item_id}/thumbnail",
    )


@router.get("", response_model=Items)
def list_items(
    served: Served,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 48,
) -> Items:
    """Items ``offset`` to ``offset + limit - 1`` of the served generation, in its order."""
    index = served.current.index
    rows = range(offset, min(offset + limit, len(index)))
    return Items(count=len(index), offset=offset, items=[_item(index, row) for row in rows])


@router.get("/{item_id}", response_model=Item, responses={404: {"description": "no such item"}})
def get_item(item_id: int, served: Served) -> Item:
    index = served.current.index
    return _item(index, item_row(index, item_id))


@router.get(
    "/{item_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "a PNG (grey if unreadable)"},
        404: {"description": "no such item, or its path lies outside the images folder"},
    },
)
def get_thumbnail(item_id: int, served: Served) -> Response:
    index = served.current.index
    row = item_row(index, item_id)
    if served.images_root is None:
        raise HTTPException(
            404,
            f"the index at {served.folder} names no images folder: start ssdh-serve with "
            "images=FOLDER to show its images",
        )
    try:
        path = resolve_under(served.images_root, index.paths[row])
    except ValueError as error:
        raise HTTPException(404, f"item {item_id} is not served: {error}") from None
    return Response(_png(_thumbnail(path)), media_type="image/png")
