"""What a server allows (k, modes, upload size, pixels) and how often it looks for a rebuilt
index: ``conf/serve.yaml``'s ``settings``, checked once at start."""

from __future__ import annotations

from dataclasses import dataclass

from ssdh_lightning.images.files import pillow_pixel_limit
from ssdh_lightning.retrieval.backends import check_backend
from ssdh_lightning.retrieval.settings import MODES, check_hds_pool


@dataclass(frozen=True)
class ServeSettings:
    default_k: int = 10
    max_k: int = 100
    default_mode: str = "hds"
    max_queries: int = 100  # code rows in one search by codes
    max_upload_bytes: int = 10 * 2**20
    max_pixels: int = 40_000_000  # checked from the image's header, before it is decoded
    reload_interval_s: float = 1.0  # how often the manifest is looked at for a new generation
    read_timeout_s: float = 10.0  # the longest a thumbnail's file may take to read; 503 past it
    hds_threshold: int | None = None
    hds_pool_size: int | None = None
    backend: str = "engine"  # answers bcs and hds's Hamming pool (Index.search); es: the engine

    def __post_init__(self) -> None:
        for name in ("max_k", "max_queries", "max_upload_bytes", "max_pixels"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"settings.{name} must be a positive integer, got {value!r}")
        if self.max_pixels > pillow_pixel_limit():
            raise ValueError(
                f"settings.max_pixels must be at most {pillow_pixel_limit()}, Pillow's own limit "
                f"(it refuses larger images as decompression bombs), got {self.max_pixels}"
            )
        if not (isinstance(self.default_k, int) and 1 <= self.default_k <= self.max_k):
            raise ValueError(
                f"settings.default_k must be an integer from 1 to settings.max_k={self.max_k}, "
                f"got {self.default_k!r}"
            )
        if self.default_mode not in MODES:
            raise ValueError(
                f"settings.default_mode must be one of {MODES}, got {self.default_mode!r}"
            )
        for name in ("reload_interval_s", "read_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0):
                raise ValueError(
                    f"settings.{name} must be a positive number of seconds, got {value!r}"
                )
        check_hds_pool(self.hds_threshold, self.hds_pool_size)
        check_backend(self.backend, "bcs")
