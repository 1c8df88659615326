"""``create_app``: the FastAPI app over a served index; the index and the settings are given,
so an app holds no global state."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ssdh_lightning.serve.errors import validation_failed
from ssdh_lightning.serve.limits import BodyLimit
from ssdh_lightning.serve.routers import health, items, page, search
from ssdh_lightning.serve.routers.page import STATIC
from ssdh_lightning.serve.served import ServedIndex
from ssdh_lightning.serve.settings import ServeSettings

# threads that read image files for thumbnails at once; a read past settings.read_timeout_s is
# abandoned, and holds its thread until it ends, without holding the threads of other requests
FILE_READERS = 4


def create_app(served: ServedIndex, settings: ServeSettings) -> FastAPI:
    """The page at ``/``, the API under ``/api`` (documented at ``/docs`` and ``/redoc``, whose
    scripts and styles the app serves itself: no CDN); while it runs, a thread looks for new
    generations of the index every ``settings.reload_interval_s``. Raises when the index has
    no ``settings.backend`` that can be loaded (the server does not start)."""
    served.use_backend(settings.backend)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.file_readers = anyio.CapacityLimiter(FILE_READERS)
        stop = threading.Event()
        watcher = threading.Thread(
            target=served.watch, args=(settings.reload_interval_s, stop), daemon=True
        )
        watcher.start()
        yield
        stop.set()
        watcher.join()

    app = FastAPIOffline(
        title="ssdh-serve",
        description="Search an index of deep binary hash codes by image, by codes or by item.",
        lifespan=lifespan,
    )
    app.state.served = served
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes)
    app.add_exception_handler(RequestValidationError, validation_failed)
    for router in (page.router, search.router, items.router, health.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
