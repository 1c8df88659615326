"""Indexes of image folders built with a trained model, and searched with images.

    from ssdh_lightning.indexing import build_index, search_images
    from ssdh_lightning.retrieval import Index

    build_index("run/checkpoints/last.ckpt", "photos", "photos.index")
    index = Index.load("photos.index")
    found = search_images(index, "query.jpg", k=10, mode="hds")  # found.result.positions, ...
    index.search(codes, k=10, mode="bcs")  # with codes (and features) at hand

``retrieval.index`` holds the on-disk index and knows nothing of models; this package adds what
needs one: encoding folders (``build``) and query images (``query``), and showing results
(``views``).
"""

from ssdh_lightning.indexing.build import build_index
from ssdh_lightning.indexing.query import (
    ImageSearch,
    Queries,
    encode_queries,
    query_model,
    search_images,
)

__all__ = [
    "ImageSearch",
    "Queries",
    "build_index",
    "encode_queries",
    "query_model",
    "search_images",
]
