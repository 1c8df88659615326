"""``/api/health``: that the server answers, and a summary of the manifest it serves."""

from __future__ import annotations

from fastapi import APIRouter

from ssdh_lightning.serve.dependencies import Served, Settings
from ssdh_lightning.serve.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
async def health(served: Served, settings: Settings) -> Health:
    # a coroutine, which no thread of the pool serves: it answers while they are all busy
    index = served.current.index
    manifest = index.manifest
    return Health(
        status="ok",
        index=str(index.folder),
        generation=index.generation,
        count=len(index),
        hash_bits=index.hash_bits,
        feature_dim=index.feature_dim,
        format_version=manifest["format_version"],
        class_names=index.class_names,
        label_kind=index.label_kind,
        images_root=str(served.images_root) if served.images_root is not None else None,
        checkpoint=str(served.checkpoint) if served.checkpoint is not None else None,
        refused=served.refused,
        default_k=settings.default_k,
        max_k=settings.max_k,
        default_mode=settings.default_mode,
    )
