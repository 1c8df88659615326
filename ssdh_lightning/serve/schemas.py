"""The shapes of requests and answers, so that the OpenAPI page at ``/docs`` documents them.
A search answers as ``ssdh-search output=json`` does: ``indexing.answer.SearchAnswer``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ssdh_lightning.indexing.answer import Mode


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
    label: int | None = Field(description="as in a search result")
    class_name: str | None
    labels: list[int] | None = Field(None, description="multi-hot index only, as in a result")
    class_names: list[str] | None = Field(None, description="multi-hot index only")
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
    label_kind: Literal["class_ids", "multi_hot"] = Field(
        description="class_ids: one class an item (label); multi_hot: any number (labels)"
    )
    images_root: str | None
    checkpoint: str | None = Field(description="the model that encodes uploads; null: none")
    refused: str | None = Field(description="why the last new generation was not served")
    default_k: int
    max_k: int
    default_mode: Mode
