"""The answer to a search of an index, one shape for ``ssdh-search output=json`` and for the
server's ``/api/search``: both build a ``SearchAnswer`` here and write ``as_json()``. FastAPI
documents the same classes on the OpenAPI page (``response_model``); the server serialises the
JSON with orjson, not through a pydantic model per answer (``benchmarks/bench_serve.py``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from ssdh_lightning.retrieval.index import Index

if TYPE_CHECKING:
    from ssdh_lightning.indexing.query import ImageSearch

Mode = Literal["bcs", "es", "hds"]


def as_json(value: Any) -> Any:
    """A dataclass as JSON's types, recursively, leaving out each optional field (default None)
    that is None: ``labels`` and ``class_names`` outside a multi-hot index, ``hds_pool_size``
    outside HDS, so that an answer has the fields it always had."""
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if not is_dataclass(value):
        return value
    out = {}
    for field in fields(value):
        item = getattr(value, field.name)
        if item is not None or field.default is not None:
            out[field.name] = as_json(item)
    return out


@dataclass(frozen=True)
class Hit:
    """One result: its rank, distance, id and position in the index, file and classes."""

    rank: Annotated[int, Field(description="from 1")]
    distance: Annotated[int | float, Field(description="Hamming (bcs, an integer) or Euclidean")]
    id: Annotated[
        int, Field(description="the item's id, the same in every generation (GET /api/items/{id})")
    ]
    position: Annotated[int, Field(description="its position in the searched generation")]
    path: Annotated[str, Field(description="relative to the index's images_root")]
    label: Annotated[
        int | None,
        Field(description="index into class_names; -1 without a class; null in a multi-hot index"),
    ]
    class_name: Annotated[
        str | None, Field(description="null without a class or in a multi-hot index")
    ]
    labels: Annotated[
        list[int] | None,
        Field(description="multi-hot index only: every class of the item, into class_names"),
    ] = None
    class_names: Annotated[
        list[str] | None, Field(description="multi-hot index only: their names")
    ] = None

    def classes_text(self) -> str | None:
        """Its class names for people, comma-separated; None when it has none."""
        names = self.class_names if self.labels is not None else [self.class_name]
        shown = [name for name in names if name is not None]
        return ", ".join(shown) if shown else None


@dataclass(frozen=True)
class QueryResults:
    query: Annotated[
        str, Field(description="the query's file, the upload's name, the item's path or codes[i]")
    ]
    results: list[Hit]
    hds_pool_size: Annotated[
        int | None, Field(description="HDS only: the pool that was re-ranked")
    ] = None


@dataclass(frozen=True)
class SearchAnswer:
    index: str
    images_root: str | None
    mode: Mode
    k: int
    search_ms: float
    first_search_ms: Annotated[
        float,
        Field(description="the first search, of one query, in this process or of this generation"),
    ]
    encode_ms: Annotated[
        float, Field(description="encoding the query images; 0 for codes and items")
    ]
    queries: list[QueryResults]

    def as_json(self) -> dict[str, Any]:
        return as_json(self)


def label_fields(index: Index, position: int) -> dict[str, Any]:
    """What a result or an item says of its classes. Class ids: ``label`` (-1 for none) and
    ``class_name`` (None for none). Multi-hot: ``label`` and ``class_name`` are None (there is
    no one class), and ``labels`` and ``class_names`` list every class of the item."""
    names = index.class_names
    classes = index.classes_of(position)
    if index.label_kind == "multi_hot":
        return {
            "label": None,
            "class_name": None,
            "labels": classes,
            "class_names": [names[c] for c in classes],
        }
    label = int(index.labels[position])
    return {"label": label, "class_name": names[label] if classes else None}


def hits(index: Index, search: ImageSearch) -> list[list[Hit]]:
    """The results of every query, best first (fewer than k where a backend found fewer)."""
    table = []
    for positions, distances in zip(search.result.positions, search.result.distances, strict=True):
        row = []
        for rank, (position, distance) in enumerate(zip(positions, distances, strict=True), 1):
            if position < 0:  # a sub-linear backend found fewer than k items
                break
            row.append(
                Hit(
                    rank=rank,
                    distance=distance.item(),
                    id=int(index.ids[position]),
                    position=int(position),
                    path=index.paths[position],
                    **label_fields(index, int(position)),
                )
            )
        table.append(row)
    return table


def search_answer(index: Index, search: ImageSearch) -> SearchAnswer:
    """The answer to ``search`` of ``index``; paths are relative to ``images_root``."""
    pool_sizes = search.result.pool_sizes
    return SearchAnswer(
        index=str(index.folder),
        images_root=index.manifest.get("images_root"),
        mode=search.mode,
        k=search.k,
        search_ms=search.seconds * 1e3,
        first_search_ms=search.first_seconds * 1e3,
        encode_ms=search.queries.seconds * 1e3,
        queries=[
            QueryResults(
                query=str(query),
                results=query_hits,
                hds_pool_size=None if pool_sizes is None else int(pool_sizes[a]),
            )
            for a, (query, query_hits) in enumerate(
                zip(search.queries.paths, hits(index, search), strict=True)
            )
        ],
    )


def json_report(index: Index, search: ImageSearch) -> dict[str, Any]:
    """``search_answer`` as JSON's types: what ``ssdh-search output=json`` prints and
    ``/api/search`` answers."""
    return search_answer(index, search).as_json()
