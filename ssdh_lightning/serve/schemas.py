"""The shapes of requests and answers, so that the OpenAPI page at ``/docs`` documents them.
A search answers with the fields of ``ssdh-search output=json`` (``indexing.views.json_report``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["bcs", "es", "hds"]


class Hit(BaseModel):
    rank: int = Field(description="from 1")
    distance: int | float = Field(description="Hamming (bcs, an integer) or Euclidean")
    id: int = Field(description="the item's id, the same in every generation (GET /api/items/{id})")
    position: int = Field(description="its row in the served generation")
    path: str = Field(description="relative to the index's images_root")
    label: int = Field(description="index into class_names; -1 without a class")
    class_name: str | None


class QueryResults(BaseModel):
    query: str = Field(description="the uploaded file's name, the item's path, or codes[i]")
    results: list[Hit]
    hds_pool_size: int | None = Field(None, description="HDS only: the pool that was re-ranked")


class SearchAnswer(BaseModel):
    index: str
    images_root: str | None
    mode: Mode
    k: int
    search_ms: float
    first_search_ms: float = Field(description="the first search of this generation (warm-up)")
    encode_ms: float = Field(description="encoding the uploaded image; 0 for codes and items")
    queries: list[QueryResults]


class CodesQuery(BaseModel):
    codes: list[list[int] | str] = Field(
        min_length=1,
        description="one code per query: hash_bits 0/1 values, or the packed bytes as hex "
        "(numpy.packbits order, ceil(hash_bits / 8) bytes)",
        examples=[["a3f0c1", [1, 0, 1, 1]]],
    )


class Item(BaseModel):
    id: int = Field(description="the same in every generation while its file is unchanged")
    path: str
    label: int
    class_name: str | None
    thumbnail: str = Field(description="the URL of its thumbnail")


class Items(BaseModel):
    count: int = Field(description="items in the served generation")
    offset: int
    items: list[Item]


class Health(BaseModel):
    status: Literal["ok"]
    index: str
    generation: int
    count: int
    hash_bits: int
    feature_dim: int
    format_version: int
    class_names: list[str]
    images_root: str | None
    checkpoint: str | None = Field(description="the model that encodes uploads; null: none")
    refused: str | None = Field(description="why the last new generation was not served")
    default_k: int
    max_k: int
    default_mode: Mode
